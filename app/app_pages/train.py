"""Train: launch a background training run, watch it live; a finished run joins the checkpoint picker."""
import functools
import time
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from analysis.data.tasks import BUILTIN_SUITE, DataError
from app import keys, state
from app.services import catalog, jobs, local_data, uploads

BACKBONES = {"minilm": "MiniLM (pretrained, the default)", "tiny-bert2bert": "tiny-bert2bert (random, a quick demo)"}


def custom_task():
    """Upload a file and map its columns; returns a function that saves it and gives the task argument."""
    file = st.file_uploader("Your own task (optional): CSV or JSONL, one example per row", type=["csv", "jsonl"])
    if file is None:
        return None
    data = file.getvalue()
    columns = list(uploads.read_table(data, file.name).columns)
    cols = st.columns(4)
    task = cols[0].text_input("Task name", uploads.default_task_name(file.name))
    inputs = cols[1].multiselect("Input column(s)", columns, default=columns[:1],
                                 help="several columns are joined as 'col: text col: text', e.g. premise and hypothesis")
    mapping = ("+".join(inputs),
               cols[2].selectbox("Target column", columns, index=min(1, len(columns) - 1)),
               cols[3].selectbox("Label column (optional)", [None, *columns], format_func=lambda c: c or "none"))
    uploads.validate(data, file.name, task, *mapping)
    return functools.partial(uploads.save, data, file.name, task, *mapping)


def local_tasks() -> tuple[str | None, list[str]]:
    """A local data directory in the hub's layout: the known tasks found there, with their row counts."""
    directory = st.text_input("Local data directory (optional)", key="train_data_dir", placeholder="e.g. ../shared/realdev/data or ~/glue",
                              help="Folders named after known tasks (ag_news, sst2, conll2003, ...), each with "
                                   "train and validation files (.jsonl, .csv or .tsv) in the hub's field names")
    if not directory:
        return None, []
    try:
        found = local_data.find_tasks(directory)
    except DataError as e:
        st.error(str(e))
        return None, []
    if not found:
        st.warning(f"No known task folders in {directory}.")
        return None, []
    st.dataframe(pd.DataFrame(found), hide_index=True)
    usable = [r["task"] for r in found if not r["problem"]]
    chosen = st.multiselect("Tasks from that directory", usable, default=usable)
    return (str(Path(directory).expanduser()) if chosen else None), chosen  # the folder is read for these only


def launch(name, tasks, custom, data_dir=None, **options) -> None:
    try:
        tasks = [*tasks, custom()] if custom else tasks
        if not tasks:
            raise ValueError("pick at least one task")
        jobs.start(name, tasks, **options, data_dir=data_dir)
    except ValueError as e:  # UploadError included
        st.error(str(e))
        return
    st.session_state.train_job = name
    st.session_state[keys.TRAIN_LAUNCHED] = st.session_state.get(keys.TRAIN_LAUNCHED, 0) + 1  # a fresh run name
    st.rerun()


def progress(name: str) -> str:
    status, job, log = jobs.status(name), jobs.load(name), jobs.read_log(name)
    step = log[-1]["step"] if log else 0
    extracting = status.state == jobs.RUNNING and status.phase == "extracting"
    running = status.state == jobs.RUNNING and not extracting
    left = jobs.seconds_left(log, job.steps) if running else None
    st.progress(step / job.steps, text=f"{name}: {'extracting embeddings for the map' if extracting else status.state}"
                                        f", step {step} / {job.steps}"
                                        + (f", {jobs.duration(left)} of training left" if left is not None else "")
                                        + (", scoring the validation split" if running and step >= job.steps else ""))
    if log:
        warnings = [r["health"]["warning"] for r in log if "warning" in r.get("health", {})]
        if warnings:
            st.warning(warnings[0])
        chart, table = st.columns([3, 1])
        whole_run = dict(range=[0, job.steps])  # the run's length in view, and whole-step ticks from step 1
        chart.plotly_chart(px.line(pd.DataFrame(log), x="step", y="loss", height=300).update_xaxes(**whole_run),
                           key="train_loss")
        health = [{"step": r["step"], "encoder spread": r["health"]["encoder_spread"],
                   **{f"{stack} generated norm": v for stack, v in r["health"]["generated_norm"].items()}}
                  for r in log if "health" in r]
        if health:
            frame = pd.DataFrame(health).melt("step", var_name="measure")
            chart.plotly_chart(px.line(frame, x="step", y="value", color="measure", height=260, markers=True,
                                       title="Health: encoder spread across tokens, generated-parameter norms"
                                       ).update_xaxes(**whole_run), key="train_health")
        evals = [{"step": r["step"], "held-out average": r["eval"]["average"]} for r in log if "eval" in r]
        if evals:
            table.dataframe(pd.DataFrame(evals), hide_index=True, height=300)
    if status.state == jobs.RUNNING:
        if st.button("Cancel run", key="train_cancel"):
            jobs.cancel(name)
            st.rerun()
    elif status.state == jobs.FINISHED:
        st.success(f"{name} is ready: it now appears in the checkpoint picker.")
    elif status.state == jobs.FAILED:
        st.error(f"{name} failed:")
        st.code(status.message or "no output")
    else:
        st.warning(f"{name} was cancelled.")
    return status.state


@st.fragment(run_every=2)
def live(name: str) -> None:
    if progress(name) != jobs.RUNNING:
        state.checkpoint_paths.clear()  # the picker shows the new run at once, not at its cache's expiry
        st.rerun()  # the whole app, now without polling


st.title("Train a hypernetwork")
with st.container(border=True):
    name_key = f"train_name_{st.session_state.get(keys.TRAIN_LAUNCHED, 0)}"
    st.session_state.setdefault(name_key, time.strftime("run-%Y%m%d-%H%M%S"))
    name = st.text_input("Run name", key=name_key, help="letters, digits, - and _")
    tasks = st.multiselect("Builtin tasks", BUILTIN_SUITE, default=BUILTIN_SUITE)
    data_dir, real_tasks = local_tasks()
    cols = st.columns([2, 3, 1, 1])
    methods = catalog.method_names()
    method = cols[0].selectbox("Method", methods, index=methods.index("hyperdecoder"))
    backbone = cols[1].selectbox("Backbone", list(BACKBONES), format_func=BACKBONES.get)
    steps = cols[2].number_input("Steps", 2, 100_000, 300, step=50)
    batch_size = cols[3].number_input("Batch size", 2, 256, 16)
    try:
        custom, bad_upload = custom_task(), False
    except uploads.UploadError as e:
        custom, bad_upload = None, True
        st.error(str(e))
    if st.button("Start", type="primary", disabled=bad_upload):
        launch(name, [*tasks, *real_tasks], custom, data_dir, method=method, backbone=backbone, steps=int(steps),
               batch_size=int(batch_size))

runs = jobs.list_jobs()
if runs:
    st.subheader("Runs")
    name = st.selectbox("Run", runs, key="train_job", label_visibility="collapsed")
    if jobs.status(name).state == jobs.RUNNING:
        live(name)
    else:
        progress(name)
