"""Plotly figures: the map (one WebGL trace per colour category, row ids in customdata) and the layer heatmap."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# colour-blind-safe first, then 26 distinct hues; neighbours in the list never look alike. Then "Other".
PALETTE = px.colors.qualitative.Safe[:-1] + px.colors.qualitative.Alphabet
OTHER, MUTED = "#9e9e9e", "#d9d9d9"
FIXED = {"correct": "#1b9e77", "incorrect": "#d95f02", "(none)": "#bdbdbd", "(no prediction)": "#bdbdbd"}  # Dark2
HOVER_CHARS = 120
# Streamlit remounts an interactive chart whenever its figure changes (a recolour, a filter, a live point), and a
# fresh WebGL context costs 0.5-0.9 s in software-GL Chromium against 0.15-0.25 s for SVG at 2k points; SVG slows
# down past a few thousand points, so bigger maps are drawn with WebGL (Scattergl).
WEBGL_FROM = 5_000
LEGEND_BELOW_UP_TO = 12  # legend entries
HOVER = ("<b>%{customdata[1]}</b> · %{customdata[2]}<br>%{customdata[3]}<br>target: %{customdata[4]}"
         "<br>prediction: %{customdata[5]}<extra>row %{customdata[0]}</extra>")


def categories(values: pd.Series) -> pd.Series:
    """Display strings for a colour column: booleans as correct/incorrect, missing values as "(none)"."""
    if values.dropna().map(type).eq(bool).all() and values.notna().any():
        return values.map({True: "correct", False: "incorrect"}).fillna("(no prediction)").astype(str)
    return values.astype(object).where(values.notna(), "(none)").astype(str)


def color_groups(cats: pd.Series, within: np.ndarray) -> list[tuple[str, np.ndarray, str]]:
    """(legend name with count, row mask, colour) of the rows `within`, largest first. Colours follow the overall
    ranking, so filters never repaint a category; categories beyond the palette share "Other"."""
    named = list(cats.value_counts().index[:len(PALETTE)])
    free = iter(PALETTE)
    groups = [(c, within & (cats == c).to_numpy(), FIXED.get(c) or next(free)) for c in named]
    groups.append(("Other", within & ~cats.isin(named).to_numpy(), OTHER))
    return [(f"{c} ({m.sum()})", m, color) for c, m, color in groups if m.any()]


def _clip(s: pd.Series) -> pd.Series:
    s = s.fillna("").astype(str)
    return s.where(s.str.len() <= HOVER_CHARS, s.str.slice(0, HOVER_CHARS) + "…")


def hover_data(meta: pd.DataFrame) -> np.ndarray:
    cols = [meta["row"], meta["task"], meta["label"].fillna("—"), _clip(meta["source"]), _clip(meta["target"]),
            _clip(meta["prediction"])]
    return np.column_stack([c.astype(object).to_numpy() for c in cols])


def points(coords: np.ndarray, webgl: bool = False, **kw) -> go.BaseTraceType:
    """A 2-D scatter (WebGL or SVG) for 2-D coords, a 3-D scatter for 3-D ones."""
    xyz = dict(x=coords[:, 0], y=coords[:, 1])
    if coords.shape[1] == 3:
        return go.Scatter3d(**xyz, z=coords[:, 2], mode=kw.pop("mode", "markers"), **kw)
    return (go.Scattergl if webgl else go.Scatter)(**xyz, mode=kw.pop("mode", "markers"), **kw)


def map_figure(meta: pd.DataFrame, coords: np.ndarray, cats: pd.Series, *, active: np.ndarray | None = None,
               hidden: frozenset = frozenset(), highlight: np.ndarray | None = None, highlight_name: str = "selected",
               overlays=(), height: int = 600, axis_titles: list[str] | None = None,
               legend_below: bool = False) -> go.Figure:
    """Coloured points; rows outside `active` muted grey, categories in `hidden` left out, `highlight` ringed;
    `axis_titles` (PCA: each axis's explained variance) label the axes; `legend_below` keeps even a long legend
    under the plot (a half-width map, which a legend at its side would squeeze)."""
    active = np.ones(len(meta), bool) if active is None else active
    shown = ~cats.isin(hidden).to_numpy()
    custom = hover_data(meta)
    size, webgl = (5, True) if len(meta) >= WEBGL_FROM else (7, False)
    traces = [points(coords[m], webgl, name=name, customdata=custom[m], hovertemplate=HOVER,
                     marker=dict(color=color, size=size, opacity=0.8))
              for name, m, color in color_groups(cats, shown & active)]
    muted = shown & ~active
    if muted.any():
        traces.insert(0, points(coords[muted], webgl, name=f"filtered out ({muted.sum()})", customdata=custom[muted],
                                hoverinfo="skip", marker=dict(color=MUTED, size=size - 1, opacity=0.5)))
    if highlight is not None and highlight.any():
        traces.append(points(coords[highlight], webgl, name=f"{highlight_name} ({highlight.sum()})", hoverinfo="skip",
                             marker=dict(color="rgba(0,0,0,0)", size=size + 6,  # thin rings keep a dense selection's colours
                                         line=dict(color="black", width=2 if highlight.sum() <= 50 else 1))))
    fig = go.Figure([*traces, *overlays])
    many = len(traces) > LEGEND_BELOW_UP_TO and not legend_below  # a long one scrolls at the side, not eat the height
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30 if axis_titles else 10, b=0), dragmode="lasso",
                      uirevision="map", legend=dict(itemsizing="constant", orientation="v" if many else "h",
                                                    yanchor="top", y=1 if many else -0.02,
                                                    maxheight=0.25 if legend_below else None))  # scrolls past that
    titles = axis_titles or [None] * 3
    fig.update_xaxes(showticklabels=False, title=titles[0], side="top")  # the legend sits below the plot
    fig.update_yaxes(showticklabels=False, title=titles[1])
    if coords.shape[1] == 3 and axis_titles:  # short, so a 3-D scene does not cut them off
        fig.update_scenes(**{f"{a}axis_title": t.split(" of ")[0] + ")" for a, t in zip("xyz", titles)})
    return fig


def explained_variance(X: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Share of X's total variance along each PCA axis (the variance of its coordinate)."""
    total = np.asarray(X, dtype=np.float64).var(0).sum()
    return coords.astype(np.float64).var(0) / total if total > 0 else np.zeros(coords.shape[1])


def marker_trace(coords: np.ndarray, name: str, *, text=None, color="black", symbol="star", size=18,
                 line: bool = False) -> go.BaseTraceType:
    """Overlay markers (live point, pins); with `line`, joined in order (the prediction history)."""
    coords = np.atleast_2d(coords)
    return points(coords, name=name, text=text, hovertemplate="%{text}<extra></extra>" if text is not None else None,
                  mode="lines+markers" if line else "markers",
                  marker=dict(color=color, size=size, symbol=symbol, line=dict(color="white", width=1)),
                  line=dict(color=color, dash="dot") if line else None)


def param_heatmap(rows: list[dict]) -> go.Figure:
    """Per-layer cosine and relative difference of two instances' generated parameters (compare_params rows)."""
    names = [r["name"] for r in rows]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    # the relative difference's colours start at 0 and span at least 5%, so rounding noise between two equal
    # inputs' parameters (fp16 storage against a live pass) does not paint a full gradient
    top = max([r["relative_diff"] for r in rows] + [0.05])
    for i, (key, title, scale, lo, hi) in enumerate((("cosine", "cosine", "RdBu", -1, 1),
                                                      ("relative_diff", "relative diff", "Viridis", 0, top))):
        z = [[r[key] for r in rows]]
        fig.add_trace(go.Heatmap(z=z, x=names, y=[title], colorscale=scale, zmin=lo, zmax=hi, texttemplate="%{z:.2f}",
                                 colorbar=dict(len=0.45, y=0.78 - 0.55 * i), hovertemplate="%{x}: %{z:.3f}<extra></extra>"),
                      row=i + 1, col=1)
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=10, b=0))
    return fig
