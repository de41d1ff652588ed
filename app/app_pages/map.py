"""Map: where each instance's conditioning embedding (or one layer's generated parameters) lands; filter, select,
inspect, export, and check the cluster quality against shuffled-label baselines."""
import numpy as np
import streamlit as st

from analysis.maps.projection import METHODS
from app import keys, state, views
from app.services import figures, selection

CHART = "map_chart"


def projection_controls(ext) -> None:
    with st.expander("Projection", expanded=False):
        c = st.columns([3, 2.2, 1.2, 1.2, 1])  # the vector's names are long
        state.sticky(c[0].selectbox, "Vector", "map_vector", "embedding", options=["embedding", *ext.param_columns],
                     format_func=views.vector_name, help=vector_help(ext))
        method = state.sticky(c[1].radio, "Method", "map_method", "umap", options=list(METHODS), horizontal=True,
                              format_func=views.METHOD_NAMES.get)
        state.sticky(c[2].radio, "Dimensions", "map_dims", 2, options=[2, 3], horizontal=True)
        state.sticky(c[3].checkbox, "PCA-50 first", "map_pca50", False, disabled=method == "pca")
        state.sticky(c[4].number_input, "Seed", "map_seed", 0, min_value=0, step=1)
        if method == "umap":
            state.sticky(c[0].slider, "n_neighbors", "map_n_neighbors", 15, min_value=2, max_value=200)
            state.sticky(c[1].slider, "min_dist", "map_min_dist", 0.1, min_value=0.0, max_value=0.99, step=0.05)
        elif method == "tsne":
            state.sticky(c[0].slider, "perplexity", "map_perplexity", 30.0, min_value=5.0, max_value=100.0, step=5.0)


def vector_help(ext) -> str:
    return (f"**Conditioning embedding**: {ext.info.get('conditioning', 'the vector the method conditions on')}, "
            f"{ext.info.get('embedding_dim', '?')} dimensions. **Generated parameters · decoder layer N** "
            "(`params.decoder.N`): every weight the method generated for that layer (adapter down/up matrices and "
            "biases, LoRA A/B, generated LayerNorm), flattened in site order and count-sketched to "
            f"{ext.info.get('param_dims', '?')} dimensions, which keeps inner products in expectation.")


def filters(meta, cats, hide_key: str | None) -> tuple[np.ndarray, frozenset]:
    """(rows the facets and search keep, colour categories to hide). `hide_key` gives the hide picker its own
    state, so hidden k-means clusters, whose numbers mean nothing across checkpoints or vectors, stay behind."""
    with st.expander("Filter and search", expanded=False):
        cols = st.columns(len(selection.FACETS))
        chosen = {f: col.multiselect(f.replace("_", " "), selection.facet_options(meta, f), format_func=str)
                  for col, f in zip(cols, selection.FACETS)}
        c1, c2, c3 = st.columns([3, 1, 3])
        query = c1.text_input("Search inputs", placeholder="substring, or a regex")
        regex = c2.checkbox("regex")
        hidden = c3.multiselect("Hide categories", sorted(cats.unique()), key=hide_key)
        mask = selection.filter_mask(meta, chosen, query, regex)
        narrowed = bool(query) or any(chosen.values())
        if narrowed and not mask.any():
            st.warning("No input matches these filters" + (f" and the search {query!r}" if query else "")
                       + ": every point is greyed out.")
        shown = mask & ~cats.isin(hidden).to_numpy()  # hidden points are not drawn, so they cannot be selected
        if narrowed and 0 < shown.sum() < len(mask) and st.button(f"Select all {shown.sum():,} matches"):
            st.session_state[keys.SELECTION] = meta["row"][shown].tolist()
    return mask, frozenset(hidden)


def selection_panel(meta, sel: list[int]) -> None:
    if not sel:
        st.caption("Lasso or box points to select them; to select by clicking, switch the chart's toolbar to pan or "
                   "zoom first (3-D maps: switch to 2-D to select).")
        return
    rows = meta[meta["row"].isin(sel)]
    err = selection.error_rate(rows)
    c = st.columns([1, 1, 2, 1, 1, 1])
    c[0].metric("selected", len(rows))
    c[1].metric("error rate", "—" if err is None else f"{err:.0%}")
    pin = c[2].selectbox("Row to pin", rows["row"].tolist())
    for col, slot in zip(c[3:5], "AB"):
        if col.button(f"Pin as {slot}", help="Compare it on the Compare page"):
            st.session_state.setdefault(keys.PINS, {})[slot] = int(pin)
            st.toast(f"Row {pin} pinned as {slot}")
    c[5].button("Clear selection", on_click=st.session_state.update, kwargs={keys.SELECTION: []})
    st.dataframe(selection.styled_table(rows), hide_index=True, width="stretch", height=260,
                 column_config=selection.TABLE_CONFIG)
    percent = {c: st.column_config.NumberColumn(format="percent") for c in ("share", "error rate")}
    for col, table in zip(st.columns(3), selection.composition(rows).values()):
        col.dataframe(table, hide_index=True, width="stretch", column_config=percent)
    d1, d2, _ = st.columns([1, 1, 4])
    d1.download_button("Selection as CSV", selection.to_csv(rows), "selection.csv", "text/csv")
    d2.download_button("Selection as parquet", selection.to_parquet(rows), "selection.parquet")


@st.fragment
@views.friendly_errors()
def map_section(ckpt, ext) -> None:
    colour, controls = st.columns([1, 5], vertical_alignment="top")  # opening "Projection" must not move it
    color_by = views.color_picker(colour)
    with controls:
        projection_controls(ext)
    view = views.current_map(ckpt, ext)
    views.projection_status(view)
    cats = figures.categories(views.color_values(view, color_by))
    hide_key = f"map_hidden.{ckpt.name}.{view.vector}" if color_by == "cluster" else None
    active, hidden = filters(ext.meta, cats, hide_key)
    if (rows := views.pending_selection(CHART, len(ext.meta))) is not None:
        st.session_state[keys.SELECTION] = [r for r in rows if active[r]]  # muted points do not join a selection
    sel = st.session_state.setdefault(keys.SELECTION, [])
    st.caption(views.map_caption(view))
    views.draw_map(view, CHART, active=active, hidden=hidden, highlight=ext.meta["row"].isin(sel).to_numpy())
    selection_panel(ext.meta, sel)
    if st.toggle("Cluster-quality report", help="kNN accuracy, silhouette, ARI/NMI per facet, with baselines"):
        views.quality_tables(state.report(ckpt, view.vector, view.projection.settings))


with views.friendly_errors():
    ckpt, ext = views.require_extraction()
    st.header(f"Map · {ckpt.name}")
    st.caption(f"{ext.info['method']}: each point is one validation input, placed by its conditioning vector "
               f"({ext.info['conditioning']}) or, under Projection, by one layer's generated parameters.")
    map_section(ckpt, ext)
