"""Predict: run the model on a new input; see its output, where its conditioning vector lands on the map (placed
from its nearest validation instances in the original space) and those nearest instances."""
import numpy as np
import streamlit as st

from app import keys, state, views
from app.services import figures
from app.services.instances import from_live, neighbor_table

HISTORY = 5


def input_form(ckpt, ext) -> tuple[str, str, int] | None:
    """(task, input text, the validation row it started from) when submitted."""
    meta = ext.meta
    c1, c2, c3 = st.columns([1, 4, 1])
    task = c1.selectbox("Task", sorted(meta["task"].unique()), key="predict_task")
    row = c2.selectbox("Start from a validation example", meta.loc[meta["task"] == task, "row"].tolist(),
                       format_func=lambda r: meta["source"].iloc[r][:120], key=f"predict_example_{task}")
    raw = c3.toggle("Raw text", help="Edit the whole input instead of its fields")
    source, spec = meta["source"].iloc[row], state.task(ckpt, task)
    prefix, fields = spec.split_source(source) if spec else (source, [])
    with st.form("predict"):
        if raw or not fields:
            text = st.text_area("Input", source, key=f"raw_{row}")
        else:
            text = spec.join_source(prefix, [(name, st.text_area(name, value, key=f"field_{row}_{name}", height=80))
                                             for name, value in fields])
        if st.form_submit_button("Predict", type="primary"):
            return task, text.strip(), row
    return None


def show_result(view, result, history, row: int) -> None:
    meta = view.ext.meta
    unedited = row < len(meta) and meta["source"].iloc[row] == result.source
    gold = f" · target `{meta['target'].iloc[row]}`" if unedited else ""  # only for an unedited validation example
    st.markdown(f"**Prediction** ({result.task}): `{result.prediction}`{gold}")
    ids, dist = state.neighbor_index(view.ckpt).query(result.embedding, 10)
    st.caption(confidence_line(result, meta.iloc[ids], dist))
    placed = np.array([view.place(from_live(state.infer(view.ckpt, *h)).vector(view.vector)) for h in history])
    overlays = [figures.marker_trace(placed, "history", text=[t[:80] for _, t in history], color="#555555",
                                     symbol="circle", size=9, line=True),
                figures.marker_trace(placed[-1:], "this input", text=[result.source[:80]])]
    picker, caption = st.columns([1, 5], vertical_alignment="bottom")
    views.color_picker(picker)
    caption.caption(views.map_caption(view) + (" · PCA stands in until the Map page's projection is computed"
                                               if not view.exact else ""))
    views.draw_map(view, "predict_map", overlays=overlays, height=520)
    st.markdown("**Nearest validation instances** (cosine distance, original embedding space)")
    st.dataframe(neighbor_table(view.ext.meta, ids, dist), hide_index=True, width="stretch")


def confidence_line(result, neighbors, distances) -> str:
    """The model's confidence (mean token NLL of its own output) and, for a label task, the nearest instances'
    majority label. (An embedding shared by a whole task, as per-task methods have, has no informative neighbours.)"""
    line = (f"Confidence: mean token NLL {result.nll:.3f} (a per-token probability of {np.exp(-result.nll):.0%})"
            if np.isfinite(result.nll) else "")
    same = neighbors[(neighbors["task"] == result.task) & (neighbors["output_type"] == "label")]
    if same.empty or np.allclose(distances, 0, atol=1e-6):
        return line
    top = same["target"].value_counts()
    majority, share = top.index[0], top.iloc[0] / len(same)
    agree = majority.strip().lower() == result.prediction.strip().lower()
    verdict = "agrees with the prediction" if agree else "**disagrees** with the prediction"
    return (f"{line} · " if line else "") + (f"the {len(same)} nearest validation instances of this task mostly "
                                             f"have target `{majority}` ({share:.0%}), which {verdict}")


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
