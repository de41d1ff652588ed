"""Predict: run the model on a new input; see its output, where its conditioning vector lands on the map (placed
from its nearest validation instances in the original space) and those nearest instances."""
import numpy as np
import streamlit as st

from app import keys, state, views
from app.services import figures
from app.services.instances import confidence_line, from_live, neighbor_table, reading_notes, ties

HISTORY = 5


def input_form(ckpt, ext) -> tuple[str, str, int] | None:
    """(task, input text, the validation row it started from) when submitted."""
    meta = ext.meta
    c1, c2, c3 = st.columns([1, 4, 1])
    task = c1.selectbox("Task", sorted(meta["task"].unique()), key="predict_task")
    row = c2.selectbox("Start from a validation example", meta.loc[meta["task"] == task, "row"].tolist(),
                       format_func=lambda r: meta["source"].iloc[r][:120], key=f"predict_example_{task}")
    raw = c3.toggle("Raw text", help="Edit the whole input instead of its fields")
    with st.form("predict"):
        text, empty = views.task_input(ckpt, task, meta["source"].iloc[row], f"predict_{row}", raw)
        if st.form_submit_button("Predict", type="primary"):
            if empty:  # the task prefix alone is no input; the last result below would read as this input's
                st.warning(views.empty_fields_message(empty))
                st.stop()
            return task, text.strip(), row
    return None


def show_result(view, result, history, row: int) -> None:
    meta = view.ext.meta
    unedited = row < len(meta) and meta["source"].iloc[row] == result.source
    gold = f" · target `{meta['target'].iloc[row]}`" if unedited else ""  # only for an unedited validation example
    st.markdown(f"**Prediction** ({result.task}): `{result.prediction}`{gold}")
    if notes := reading_notes(result):
        st.warning(" ".join(notes))
    ids, dist = state.neighbor_index(view.ckpt).query(result.embedding, 10)
    st.caption(confidence_line(result, meta.iloc[ids], dist))
    placements = [view.placement(from_live(state.infer(view.ckpt, *h)).vector(view.vector)) for h in history]
    placed = np.array([p.coords for p in placements])  # the last is this input
    overlays = [figures.marker_trace(placed, "history", text=[t[:80] for _, t in history], color="#555555",
                                     symbol="circle", size=9, line=True),
                figures.marker_trace(placed[-1:], "this input", text=[result.source[:80]])]
    picker, caption = st.columns([1, 5], vertical_alignment="bottom")
    views.color_picker(picker)
    caption.caption(views.map_caption(view) + (" · PCA stands in until the Map page's projection is computed"
                                               if not view.exact else "")
                    + (" · this input's nearest instances lie far apart on the map, so its star (their weighted mean) "
                       "may sit between clusters" if view.scattered(placements[-1]) else ""))
    views.draw_map(view, "predict_map", overlays=overlays, height=520)
    st.markdown("**Nearest validation instances** (cosine distance, original embedding space)")
    if ties(dist):
        st.caption("All at distance 0: this vector is shared by many rows (a per-task method gives a whole task one), "
                   "so these are not nearer than the others.")
    table = neighbor_table(view.ext.meta, ids, dist)
    st.dataframe(table, hide_index=True, width="stretch", column_config=views.neighbor_columns(table))


with views.friendly_errors():
    ckpt, ext = views.require_extraction()
    st.header(f"Predict · {ckpt.name}")
    if (asked := input_form(ckpt, ext)) is not None:
        state.infer(ckpt, *asked[:2])  # ValueError on empty input -> a message
        history = [h for h in st.session_state.get(keys.HISTORY, []) if h[:2] != asked[:2]] + [asked]
        st.session_state[keys.HISTORY] = history[-HISTORY:]
    if history := st.session_state.get(keys.HISTORY):
        task, text, row = history[-1]
        show_result(views.current_map(ckpt, ext), state.infer(ckpt, task, text), [h[:2] for h in history], row)
    else:
        st.caption("Pick a task and an example, edit it, and press Predict.")
