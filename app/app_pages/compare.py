"""Compare: pin two instances (from the Map selection, by row id, or typed) and compare their conditioning vectors,
their generated parameters layer by layer, their neighbours, and what each outputs with the other's adapters."""
import numpy as np
import streamlit as st

from analysis.maps.neighbors import compare_params, compare_vectors, shared_neighbors
from app import keys, state, views
from app.services import figures
from app.services.instances import Instance, from_live, from_row, neighbor_table, swap_table, ties

K = 10


def pick(slot: str, ckpt, ext, default_row: int) -> Instance:
    meta = ext.meta
    if (pinned := st.session_state.get(keys.PINS, {}).pop(slot, None)) is not None:  # just pinned on the Map page
        st.session_state[f"cmp_mode_{slot}"], st.session_state[keys.compare_row(slot)] = "validation row", pinned
    st.subheader(slot)
    mode = state.sticky(st.radio, "From", f"cmp_mode_{slot}", "validation row",
                        options=["validation row", "typed input"], horizontal=True)
    if mode == "validation row":
        same_example = np.flatnonzero(meta["id"].to_numpy() == st.session_state.get(keys.compare_id(slot)))
        row = state.sticky(st.number_input, "Row id", keys.compare_row(slot),  # a new checkpoint: the same example
                           int(same_example[0]) if len(same_example) else default_row, min_value=0,
                           max_value=len(meta) - 1)
        inst = from_row(ext, int(row))
        st.session_state[keys.compare_id(slot)] = meta["id"].iloc[inst.row]
        st.caption(f"{inst.task} · {inst.source[:200]}")
        st.markdown(f"**Output:** `{inst.output}` · target `{meta['target'].iloc[inst.row]}`")
    else:
        task = st.selectbox("Task", sorted(meta["task"].unique()), key=f"cmp_task_{slot}")
        text, empty = views.task_input(ckpt, task, meta.loc[meta["task"] == task, "source"].iloc[0], f"cmp_{slot}_{task}")
        if empty:
            st.warning(views.empty_fields_message(empty))
            st.stop()
        inst = from_live(state.infer(ckpt, task, text))
        st.markdown(f"**Output:** `{inst.output}`")
    return inst


def neighbours(ckpt, ext, a: Instance, b: Instance) -> set[int]:
    """Both instances' nearest validation rows (themselves left out); returns the rows near either."""
    near = shared_neighbors(state.neighbor_index(ckpt), a.embedding, b.embedding, K, exclude=(a.row, b.row))
    for col, slot in zip(st.columns(2), "AB"):
        col.markdown(f"**{K} nearest to {slot}** (cosine distance, original space)")
        table = neighbor_table(ext.meta, *near[slot.lower()])
        col.dataframe(table, hide_index=True, width="stretch", height=240, column_config=views.neighbor_columns(table))
    shared = near["shared"]
    if ties(near["a"][1]) and ties(near["b"][1]):
        st.caption("Every neighbour is at distance 0: these inputs share their vector with many rows (a per-task "
                   "method gives a whole task one), so which rows are listed, and how many are shared, is arbitrary.")
    else:
        st.caption(f"Shared neighbours: {len(shared)} of {K}" + (f" (rows {sorted(shared)})" if shared else ""))
    return set(near["a"][0].tolist()) | set(near["b"][0].tolist())


def adaptation_swap(ckpt, a: Instance, b: Instance, same: bool) -> None:
    st.subheader("Adaptation swap")
    st.caption("Decode each input with the other's generated decoder adapters: if the output follows the adapters, "
               "they carry what the conditioning vector encodes.")
    if ckpt.adapts_per == "model":
        st.info("This method generates no adapters, per input or per task, so there is nothing to swap: pick a "
                "checkpoint of a hypernetwork method.")
        return
    if same:
        another = "from another task" if ckpt.adapts_per == "task" else "another input"
        st.info(f"A and B get the same generated adapters, so a swap cannot change either output. Pin {another} as B "
                "to swap two adaptations.")
        return
    pair = ((a.source, a.task), (b.source, b.task))
    if st.button("Swap their adapters", type="primary"):
        st.session_state[keys.SWAP_FOR] = pair
    if st.session_state.get(keys.SWAP_FOR) != pair:
        return
    try:
        s = state.swap(ckpt, *pair)
    except ValueError as e:  # methods that generate nothing per input
        st.warning(str(e))
        return
    st.dataframe(swap_table(s), hide_index=True, width="stretch")
    st.caption(f"{s.swapped_sites} generated decoder sites swapped.")


with views.friendly_errors():
    ckpt, ext = views.require_extraction()
    st.header(f"Compare · {ckpt.name}")
    col_a, col_b = st.columns(2)
    with col_a:
        a = pick("A", ckpt, ext, 0)
    with col_b:
        b = pick("B", ckpt, ext, min(1, len(ext.meta) - 1))
    v = compare_vectors(a.embedding, b.embedding)
    c = st.columns(3)
    c[0].metric("embedding cosine", f"{v['cosine']:.3f}")
    c[1].metric("embedding L2", f"{v['l2']:.3f}")
    if v["same"]:
        per_task = ckpt.adapts_per == "task" and a.task == b.task
        st.info("A and B share one conditioning vector" + (f": {ext.info['method']} adapts once per task, and both are "
                                                           f"{a.task} inputs" if per_task else "") + ".")
    same_adapters = v["same"]
    if a.params:
        layers = compare_params(a.params, b.params)
        same_adapters |= all(r["relative_diff"] <= 2e-3 for r in layers)  # PHA's gold prototype: one per task
        if same_adapters and not v["same"]:
            st.info("A and B get the same generated adapters on every layer, though their embeddings differ: "
                    f"{ext.info['method']} builds them from the task, not from the input.")
        c[2].metric("mean layer cosine", f"{sum(r['cosine'] for r in layers) / len(layers):.3f}")
        st.markdown("**Generated parameters per layer** (sketched to a fixed size)")
        st.plotly_chart(figures.param_heatmap(layers), key="cmp_heatmap",
                        config={"displayModeBar": False})  # a toolbar would cover the cosine row's right end
    else:
        st.caption(f"{ext.info['method']} generates no per-input parameters: only the embeddings differ.")
    near = neighbours(ckpt, ext, a, b)
    view = views.current_map(ckpt, ext)
    # a validation row is pinned on its own point; a typed input where its nearest rows place it
    where = lambda i: view.coords[i.row] if i.row is not None else view.place(i.vector(view.vector))  # noqa: E731
    pins = [figures.marker_trace(where(i), slot, text=[i.source[:80]], color=color)
            for i, slot, color in ((a, "A", "#d62728"), (b, "B", "#1f77b4"))]
    st.caption(views.map_caption(view))
    views.draw_map(view, "compare_map", highlight=ext.meta["row"].isin(near).to_numpy(),
                   highlight_name="neighbours of A or B", overlays=pins, height=480)
    adaptation_swap(ckpt, a, b, same_adapters)
