"""Streamlit pieces shared by several pages: friendly errors, the checkpoint
guard, the map chart and its status, quality tables. Figures and logic come from the Streamlit-free modules."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from analysis.errors import CheckpointError, HyperLensError
from analysis.extract.reader import Extraction
from analysis.layout import projection_cache
from analysis.maps import quality
from analysis.maps.projection import Projection
from app import config, keys, state
from app.services import figures, maps, selection
from app.services.catalog import Ckpt

log = logging.getLogger("hyperlens.app")


@contextmanager
def friendly_errors():
    """Errors as messages that say what to do, never a traceback (also usable as a decorator)."""
    try:
        yield
    except CheckpointError as e:
        st.error(f"This checkpoint cannot be loaded: {e}")
    except FileNotFoundError as e:
        st.warning(f"Missing file: {e}")
    except (HyperLensError, ValueError) as e:
        st.error(str(e))
    except Exception as e:  # noqa: BLE001 -- the last resort; the traceback goes to the server log
        log.exception("page failed")
        st.error(f"Something went wrong ({type(e).__name__}: {e}). The server log has the details.")


def task_input(ckpt: Ckpt, task: str, source: str, key: str, raw: bool = False) -> tuple[str, list[str]]:
    """Text areas for a task's input fields, its prefix kept as the task writes it (the whole input when `raw`, or
    when the task has no named fields): (the input, the fields left empty)."""
    spec = state.task(ckpt, task)
    prefix, fields = spec.split_source(source) if spec else (source, [])
    if raw or not fields:
        text = st.text_area("Input", source, key=f"{key}_raw")
        values = spec.split_source(text)[1] if spec else []
    else:
        values = [(name, st.text_area(name, value, key=f"{key}_{name}", height=80)) for name, value in fields]
        text = spec.join_source(prefix, values)
    return text, [name for name, value in values if not value.strip()]


def empty_fields_message(empty: list[str]) -> str:
    return f"Fill in {' and '.join(f'`{n}`' for n in empty)}: an empty field gives the model nothing to read."


def has_extraction(ckpt: Ckpt) -> bool:
    """True, or a message with the command that creates the extraction."""
    if not ckpt.has_extraction:
        st.warning(f"**{ckpt.name}** has no extraction yet, so there is nothing to map. Create it with:")
        st.code(f"python -m analysis extract {ckpt.path}", language="bash")
    return ckpt.has_extraction


def require_extraction() -> tuple[Ckpt, Extraction]:
    """The sidebar's checkpoint and its extraction, or a message saying how to get them (and the page stops)."""
    ckpt = state.checkpoint()
    if ckpt is None:
        dirs = ", ".join(str(d) for d in [*config.CHECKPOINT_DIRS, config.RUNS_DIR])
        st.info(f"No checkpoints found in {dirs}. Train one on the Train page, or point HYPERLENS_CHECKPOINTS "
                "at a folder of checkpoints.")
        st.stop()
    if not has_extraction(ckpt):
        st.stop()
    return ckpt, state.extraction(ckpt)


@dataclass
class MapView:
    ckpt: Ckpt
    ext: Extraction
    vector: str
    projection: Projection
    exact: bool  # False: a PCA stands in for a UMAP/t-SNE map that is not computed yet

    @property
    def coords(self) -> np.ndarray:
        return self.projection.coords

    def placement(self, x: np.ndarray):
        """A new point's position, from its nearest extraction rows in the original space (with their spread)."""
        return state.placer(self.ckpt, self.vector, self.projection.settings).place(x)

    def place(self, x: np.ndarray) -> np.ndarray:
        return self.placement(x).coords

    def scattered(self, placement) -> bool:
        """Whether a placed point's nearest rows lie far apart on this map (over a tenth of its extent), so that
        their weighted mean, where it is drawn, may fall between clusters."""
        return placement.spread > 0.1 * float(np.linalg.norm(np.ptp(self.coords, axis=0)))


def current_map(ckpt: Ckpt, ext: Extraction) -> MapView:
    vector, settings = state.map_settings()
    if vector not in ("embedding", *ext.param_columns):  # a layer another checkpoint has and this one lacks
        vector = "embedding"
    return MapView(ckpt, ext, vector, *state.projection(ckpt, vector, settings))


def color_picker(container=st) -> str:
    """The "Colour by" choice, shared by every page's map. It sits by the map, inside the map's fragment, so a
    recolour reruns only the map."""
    return state.sticky(container.selectbox, "Colour by", keys.COLOR_BY, "task", options=state.COLOR_FIELDS,
                        format_func=lambda f: f.replace("_", " "))


def color_values(view: MapView, color_by: str) -> pd.Series:
    if color_by == "cluster":  # k-means in the original space, k = number of tasks
        k = max(2, view.ext.meta["task"].nunique())
        return pd.Series(state.clusters(view.ckpt, view.vector, k)).map(lambda c: f"cluster {c}")
    if color_by == "label":  # label words repeat across tasks ("yes"): name the task too
        meta = view.ext.meta
        return (meta["task"] + ": " + meta["label"].astype(str)).where(meta["label"].notna())
    return view.ext.meta[color_by]


def sample_note(view: MapView, shown: np.ndarray | None = None) -> str:
    """What draw_map says above a map it samples (more than maps.MAX_POINTS points), else ""; `shown`: the sample,
    when the caller has drawn it already."""
    n = len(view.ext.meta)
    k = len(maps.stratified_sample(view.ext.meta) if shown is None else shown)
    return f"Showing {k:,} of {n:,} points, sampled per task." if k < n else ""


def draw_map(view: MapView, key: str, *, active=None, hidden=frozenset(), highlight=None, highlight_name="selected",
             overlays=(), height: int = 600, note: bool = True, legend_below: bool = False) -> None:
    """The map chart, selectable (read selections with pending_selection(key)); above maps.MAX_POINTS points
    a task-stratified sample is drawn, with sample_note above it unless `note` is False (a caller that shows it)."""
    meta = view.ext.meta
    cats = figures.categories(color_values(view, state.color_by()))
    shown = maps.stratified_sample(meta)
    if note and len(shown) < len(meta):
        st.caption(sample_note(view, shown))
    pick = lambda a: None if a is None else np.asarray(a)[shown]  # noqa: E731
    fig = figures.map_figure(meta.iloc[shown], view.coords[shown], cats.iloc[shown].reset_index(drop=True),
                             active=pick(active), hidden=hidden, highlight=pick(highlight),
                             highlight_name=highlight_name, overlays=overlays, height=height,
                             axis_titles=axis_titles(view), legend_below=legend_below)
    st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("points", "box", "lasso"),
                    config={"scrollZoom": True, "displaylogo": False})


def axis_titles(view: MapView) -> list[str] | None:
    """PCA axes say how much of the variance they show; UMAP and t-SNE axes have no meaning to state."""
    s = view.projection.settings
    if s.method != "pca" or s.pca_dims:
        return None
    shares = figures.explained_variance(view.ext.vectors(view.vector), view.coords)
    return [f"PC{i + 1} ({share:.1%} of variance)" for i, share in enumerate(shares)]


def pending_selection(key: str, n: int) -> list[int] | None:
    """Row ids (< n) of a chart's newest selection event, once: None when the event is empty or already taken.
    Read before drawing, so the highlight drawn in the same run already shows it."""
    rows = [r for r in selection.event_rows(st.session_state.get(key)) if 0 <= r < n]
    seen_key = f"{key}.seen"
    if rows == st.session_state.get(seen_key, []):
        return None
    st.session_state[seen_key] = rows
    return rows or None


METHOD_NAMES = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}


def vector_name(column: str) -> str:
    if column == "embedding":
        return "conditioning embedding"
    stack, layer = column.removeprefix("params.").split(".")
    return f"generated parameters · {stack} layer {layer}"


def map_caption(view: MapView) -> str:
    """The vector and every setting that shapes the map, so two maps with different settings never read alike."""
    s = view.projection.settings
    knobs = {"umap": f" (n_neighbors {s.n_neighbors}, min_dist {s.min_dist:g})",
             "tsne": f" (perplexity {s.perplexity:g})"}.get(s.method, "")
    extra = f", PCA-{s.pca_dims} first" if s.pca_dims and s.method != "pca" else ""
    seed = "" if s.method == "pca" else f", seed {s.seed}"  # PCA is deterministic
    cached = " (cached)" if view.projection.from_cache else ""
    return (f"{vector_name(view.vector)} · {METHOD_NAMES[s.method]} {s.n_components}-D{knobs}{extra}{seed}{cached} · "
            f"n={len(view.coords):,} · legend: click hides, double-click isolates")


def projection_status(view: MapView) -> None:
    """When the requested map is not computed yet: say so, and offer to fit it in the background."""
    if view.exact:
        return
    wanted, manager = state.map_settings()[1], state.projections()
    X, name = view.ext.vectors(view.vector), METHOD_NAMES[wanted.method]
    key = manager.key(X, wanted)
    status = manager.status(key)
    if status.state == "running":
        _await_job(key, name)
        return
    c1, c2 = st.columns([3, 1])
    if status.state == "none":
        c1.info(f"The {name} map with these settings is not computed yet: showing PCA meanwhile.")
    else:
        c1.error(f"The {name} fit failed: {status.error}. Change the settings or try again.")
    if c2.button(f"Compute {name}", help="Runs in the background; the map switches when it is done"):
        manager.submit(X, wanted, projection_cache(view.ckpt.dir))
        st.rerun()


@st.fragment(run_every=2)
def _await_job(key: str, name: str) -> None:
    manager = state.projections()
    status = manager.status(key)
    if status.state != "running":
        st.rerun()  # the whole page: the map switches to the new projection (or shows the failure)
    compiling = name == "UMAP" and not manager.umap_ready()
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.info(f"Computing the {name} map in the background: {status.seconds:.0f} s so far"
            f"{' (compiling UMAP kernels first, once per server)' if compiling else ''}. Showing PCA meanwhile.",
            icon=":material/hourglass_top:")
    if c2.button("Cancel", key=f"cancel_{key}", help="Stop this fit; the PCA map stays"):
        manager.cancel(key)
        st.rerun()


def neighbor_columns(table: pd.DataFrame) -> dict:
    """Column widths for a neighbour table: numbers narrow, task and label as wide as their longest entry, so they
    show whole in a half-width column and the texts (target, prediction, source) start in view."""
    def fit(column: str) -> int:  # about 8 px a character, header included
        return min(220, 24 + 8 * max(len(column), int(table[column].fillna("").astype(str).str.len().max())))
    return ({"row": st.column_config.NumberColumn(width=60), "distance": st.column_config.NumberColumn(width=80)}
            | {c: st.column_config.TextColumn(width=fit(c)) for c in ("task", "label") if c in table and len(table)})


def three_decimals(table: pd.DataFrame) -> dict:
    """One number format for every score in the quality tables."""
    return {c: st.column_config.NumberColumn(format="%.3f") for c in table.select_dtypes("number").columns
            if c not in ("size", "id", "n")}


def quality_tables(report: dict, compact: bool = False) -> None:
    st.caption(f"Original {report.get('vector', 'embedding')} space, cosine · n={report['n']} · k={report['k']} · "
               "shuffled-label baselines beside each score")
    if compact:
        summary = quality.summary(report)
        st.dataframe(summary, width="stretch", height=35 * (len(summary) + 1) + 3)  # every row, no inner scroll
        return
    facets = quality.facet_table(report)
    st.dataframe(facets, hide_index=True, width="stretch", column_config=three_decimals(facets))
    st.caption(quality.EXPLAIN)
    if not (within := quality.within_task_table(report)).empty:
        st.markdown("**Label kNN accuracy within each task**")
        st.dataframe(within, hide_index=True, width="stretch", column_config=three_decimals(within))
    if report.get("trustworthiness") is not None:
        st.caption(f"Trustworthiness@{report['k']} of the 2-D map (map quality): {report['trustworthiness']:.3f}")
    st.markdown(f"**k-means clusters (original space, k = {len(report['clusters'])})**")
    st.caption(quality.CLUSTERS_EXPLAIN)
    clusters = quality.clusters_table(report)
    st.dataframe(clusters, hide_index=True, width="stretch", column_config=three_decimals(clusters))
