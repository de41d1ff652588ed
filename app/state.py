"""Cached loaders shared by every session, keyed on cheap values (a Ckpt is its path plus a file-time stamp, a
vector name, projection settings), and the few session-state values the pages share."""
from __future__ import annotations

import importlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from analysis.data.tasks import Task, get_task
from analysis.extract.reader import Extraction, load_extraction
from analysis.layout import CONFIG, projection_cache
from analysis.maps.neighbors import KnnPlacer, NeighborIndex
from analysis.maps.projection import DEFAULT_MAP, Projection, ProjectionSettings
from analysis.maps.quality import kmeans
from analysis.maps.report import extraction_report, saved_report
from app import config, keys
from app.services import catalog, maps
from app.services.catalog import Ckpt, discover

if TYPE_CHECKING:  # the model stack (torch, transformers) loads on first use, not with the map
    from analysis.extract.live import LiveModel, LiveResult, SwapResult

COLOR_FIELDS = ["task", "label", "output_type", "correct", "cluster", "prediction", "target", "split"]


# --- checkpoints ---

@st.cache_data(ttl=5, show_spinner=False)
def checkpoint_paths() -> dict[str, str]:
    """Refreshed every few seconds, so runs finished on the Train page appear in the picker."""
    return {name: str(path) for name, path in discover(config.CHECKPOINT_DIRS, config.RUNS_DIR).items()}


@st.cache_data(max_entries=4, show_spinner=False)
def ranking(ckpts: tuple[Ckpt, ...]) -> pd.DataFrame:
    """The Methods page's table, recomputed only when a checkpoint's files change (each Ckpt carries a stamp)."""
    return catalog.ranking({c.name: c.dir for c in ckpts})


def checkpoint(name: str | None = None) -> Ckpt | None:
    """A named checkpoint, by default the one picked in the sidebar."""
    name = name or st.session_state.get(keys.CHECKPOINT)
    paths = checkpoint_paths()
    return Ckpt.at(name, Path(paths[name])) if name in paths else None


@st.cache_resource(show_spinner=False)
def start_warmup() -> None:
    """Once per process, in the background: import the model stack (torch, transformers: several seconds) so the
    first prediction does not pay for it, and compile UMAP's kernels in the (niced) projection worker."""
    threading.Thread(target=importlib.import_module, args=("analysis.extract.live",), daemon=True).start()
    threading.Thread(target=exit_after_stop, daemon=True, name="hyperlens-exit").start()
    if config.WARMUP_UMAP:
        projections().warm_up()


def exit_after_stop(grace: float = config.EXIT_GRACE_SECONDS, poll: float = 0.2) -> None:
    """On SIGTERM or Ctrl-C Streamlit stops, then waits for every running script: a model call or fit could hold
    it on "Stopping..." for minutes. Once it is stopping, allow `grace` seconds, then end the process."""
    from streamlit.runtime import Runtime, RuntimeState
    while not (Runtime.exists() and Runtime.instance().state in (RuntimeState.STOPPING, RuntimeState.STOPPED)):
        time.sleep(poll)
    time.sleep(grace)
    os._exit(0)


# --- cached data and models ---

@st.cache_resource(max_entries=4, show_spinner="Loading the extraction…")
def extraction(ckpt: Ckpt) -> Extraction:
    return load_extraction(ckpt.dir)


@st.cache_resource(max_entries=32, show_spinner=False)
def task(ckpt: Ckpt, name: str) -> Task | None:
    """A task as the checkpoint was trained on it; None when it cannot be rebuilt here (its inputs are then
    edited as raw text)."""
    specs = {spec["name"]: spec for spec in catalog.json_object(ckpt.dir / CONFIG)[0].get("task_specs", [])}
    try:
        return get_task(specs.get(name, name))
    except (ValueError, TypeError):  # DataError is a ValueError
        return None


@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def live_model(ckpt: Ckpt) -> LiveModel:
    import torch

    from analysis.extract.live import LiveModel
    torch.set_num_threads(config.SERVER_THREADS)  # every session shares these; more would only contend
    return LiveModel.from_checkpoint(ckpt.dir)


@st.cache_resource(max_entries=8, show_spinner=False)
def neighbor_index(ckpt: Ckpt, vector: str = "embedding") -> NeighborIndex:
    return NeighborIndex(extraction(ckpt).vectors(vector))


@st.cache_resource(show_spinner=False)
def projections() -> maps.ProjectionManager:
    return maps.ProjectionManager()


def projection(ckpt: Ckpt, vector: str, settings: ProjectionSettings) -> tuple[Projection, bool]:
    """(map, is_requested): the requested map when shipped, cached or instant, else a PCA of the same dimension."""
    X, shipped = extraction(ckpt).vectors(vector), projection_cache(ckpt.dir)
    if (p := projections().get(X, settings, shipped)) is not None:
        return p, True
    return projections().get(X, maps.fallback(settings), shipped), False


@st.cache_resource(max_entries=8, show_spinner=False)
def placer(ckpt: Ckpt, vector: str, settings: ProjectionSettings) -> KnnPlacer:
    """Places live points on the map shown (`settings` are the projection's own, fallback included)."""
    return KnnPlacer(extraction(ckpt).vectors(vector), projection(ckpt, vector, settings)[0].coords)


@st.cache_data(max_entries=16, show_spinner="Clustering in the original space…")
def clusters(ckpt: Ckpt, vector: str, k: int) -> np.ndarray:
    return kmeans(extraction(ckpt).vectors(vector), k)


@st.cache_data(max_entries=16, show_spinner="Computing the cluster-quality report…")
def report(ckpt: Ckpt, vector: str, settings: ProjectionSettings) -> dict:
    if hit := saved_report(ckpt.dir, vector):
        return hit
    # computed with the map shown, so the trustworthiness score never waits for a UMAP compile
    return extraction_report(extraction(ckpt), vector, projection(ckpt, vector, settings)[0].coords)


@st.cache_resource(show_spinner=False)
def _inference() -> tuple[ThreadPoolExecutor, dict]:
    """Model calls run in these threads, so a page can show the time so far and stop waiting; results are kept
    by (checkpoint, task, text)."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="hyperlens-infer"), {}


def infer(ckpt: Ckpt, task: str, text: str) -> LiveResult:
    """The model's output for one input. While it generates, the page shows the seconds so far and a Cancel
    button: any click reruns the page, which ends this wait (the model finishes in the background and keeps the
    result)."""
    pool, results = _inference()
    key = (ckpt, task, text)
    if key not in results:
        future = pool.submit(live_model(ckpt).infer, [text], [task])
        slot, start = st.empty(), time.monotonic()
        with slot.container():
            status, cancel = st.columns([5, 1], vertical_alignment="center")
            cancel.button("Cancel", key=f"cancel_infer_{hash(key)}")  # one per request: Compare may wait on two
            box = status.empty()
        while not future.done():
            box.caption(f":material/hourglass_top: Generating… {time.monotonic() - start:.1f} s")
            time.sleep(0.2)
        slot.empty()
        results[key] = future.result()[0]  # a model error surfaces here, as a message
        while len(results) > 256:
            results.pop(next(iter(results)))
    return results[key]


@st.cache_data(max_entries=64, show_spinner="Decoding with swapped adapters…")
def swap(ckpt: Ckpt, a: tuple[str, str], b: tuple[str, str]) -> SwapResult:
    return live_model(ckpt).swap(a, b)


# --- session state ---

def sticky(widget, label: str, key: str, default, **kw):
    """A widget whose value survives page switches (Streamlit drops widget state when its page is not shown)."""
    value = st.session_state.get(key, st.session_state.get(keys.sticky(key), default))
    if "options" in kw and value not in kw["options"]:  # e.g. a layer the new checkpoint does not have
        value = default
    st.session_state[key] = value
    st.session_state[keys.sticky(key)] = value = widget(label, key=key, **kw)
    return value


def color_by() -> str:
    """The colour chosen by any page's "Colour by" picker (views.color_picker), "task" until then."""
    return st.session_state.get(keys.COLOR_BY, st.session_state.get(keys.sticky(keys.COLOR_BY), "task"))


def map_settings() -> tuple[str, ProjectionSettings]:
    """The vector and projection chosen on the Map page (DEFAULT_MAP until then); every page maps the same way."""
    get = lambda name, default: st.session_state.get(keys.sticky(f"map_{name}"), default)  # noqa: E731
    d = DEFAULT_MAP
    settings = ProjectionSettings(method=get("method", d.method), n_components=get("dims", d.n_components),
                                  pca_dims=50 if get("pca50", False) else None, seed=get("seed", d.seed),
                                  metric=d.metric, n_neighbors=get("n_neighbors", d.n_neighbors),
                                  min_dist=get("min_dist", d.min_dist), perplexity=get("perplexity", d.perplexity))
    return get("vector", "embedding"), settings


def reset_for_checkpoint() -> None:
    """Row ids, pins and live history belong to one checkpoint's extraction."""
    for key in keys.PER_CHECKPOINT:
        st.session_state.pop(key, None)
