"""Methods: a ranking of every checkpoint, then two side by side (by default the best per-input model against the
best per-task one): their maps with a linked selection (the same validation instances,
matched by example id), their validation metrics and their cluster quality."""
import streamlit as st

from app import keys, state, views
from app.services import catalog


def side(i: int, names: list[str], preferred: list[str]):
    """The i-th picker; (ckpt, extraction) when it has one."""
    default = preferred[i] if i < len(preferred) else names[min(i, len(names) - 1)]
    ckpt = state.checkpoint(state.sticky(st.selectbox, "Checkpoint", f"methods_ckpt_{i}", default, options=names))
    return (ckpt, state.extraction(ckpt)) if views.has_extraction(ckpt) else None


with views.friendly_errors():
    st.header("Methods")
    st.caption("A **Hyperformer** generates one adaptation per task, so every input of a task gets the same adapters; "
               "a **Hyperdecoder** generates one per input from its pooled encoder output, so its map can also "
               "separate labels and output types within a task. A plain **adapter** has no conditioning network: "
               "its map shows the raw pooled encoder output. Select points in either map to highlight the same "
               "instances in the other.")
    names = list(state.checkpoint_paths())
    if not names:
        st.info("No checkpoints yet: train one on the Train page.")
        st.stop()
    table = state.ranking(tuple(state.checkpoint(n) for n in names))
    st.markdown("**Every checkpoint: those scored on the most tasks first, then the best average**")
    st.caption("The average is over the checkpoint's own tasks (their number in `tasks`), so compare averages only "
               "between rows with the same tasks. "
               "Task columns: the validation score (the mean of the task's metrics). Task and label kNN: how often "
               "an instance's 10 nearest neighbours in the conditioning embedding share its task, or its label within "
               "its task, with the same score on shuffled labels in parentheses. Trainable parameters include the warm "
               "start's new cross-attention; minutes of training as logged (runs that shared the CPU took longer). "
               "None: not measured for that checkpoint. PHA's kNN scores read its retriever's per-input embedding, "
               "which picks the task prototype its adapters are generated from: labels kept in that embedding do not "
               "reach its adapters, which are one per task.")
    st.dataframe(table, hide_index=True, width="stretch")
    picker, clear = st.columns([1, 5], vertical_alignment="bottom")
    views.color_picker(picker)
    sides = []
    for i, col in enumerate(st.columns(2)):
        with col:
            sides.append(side(i, names, catalog.default_pair(table)))
    for i, s in enumerate(sides):  # read both selections before drawing, so each highlights the other
        if s and (rows := views.pending_selection(f"methods_map_{i}", len(s[1].meta))) is not None:
            st.session_state[keys.LINKED] = s[1].meta["id"].iloc[rows].tolist()
    linked = st.session_state.get(keys.LINKED, [])
    if linked and clear.button(f"Clear the linked selection ({len(linked)} instances)"):
        linked = st.session_state[keys.LINKED] = []
    shown = [(s[0], s[1], views.current_map(*s)) if s else None for s in sides]

    def row(draw):
        """One section for both sides in its own pair of columns, so each section starts level on both sides
        however its neighbour above wrapped."""
        for i, (col, s) in enumerate(zip(st.columns(2), shown)):
            if s is not None:
                with col:
                    draw(i, *s)

    def caption(i, ckpt, ext, view):
        st.caption(" ".join(filter(None, (f"**{ext.info['method']}** · " + views.map_caption(view),
                                          views.sample_note(view)))))

    def map_(i, ckpt, ext, view):
        # the sample note is in the caption row; a half-width map keeps its width with the legend below
        views.draw_map(view, f"methods_map_{i}", highlight=ext.meta["id"].isin(linked).to_numpy(), height=460,
                       note=False, legend_below=True)

    def metrics(i, ckpt, ext, view):
        st.markdown("**Validation metrics**")
        try:
            table = catalog.metrics_table(ckpt.dir)
        except ValueError as e:  # a damaged metrics.json: say so beside the map, which still works
            st.warning(str(e))
            table = None
        if table is None:
            st.caption("No readable metrics.json in this checkpoint.")
        else:
            st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3)  # every row

    def quality(i, ckpt, ext, view):
        st.markdown("**Cluster quality**")
        views.quality_tables(state.report(ckpt, view.vector, view.projection.settings), compact=True)

    for section in (caption, map_, metrics, quality):
        row(section)
