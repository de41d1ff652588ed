"""Shared fixtures: a standard pair of inputs, and a tiny trained checkpoint for the app tests."""
import os
import shutil
import tempfile
from pathlib import Path

import analysis  # noqa: F401,E402 -- sets the offline environment before anything imports transformers

os.environ.setdefault("HYPERLENS_CACHE", tempfile.mkdtemp(prefix="hyperlens-cache-"))  # maps the tests compute

import pytest  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def tiny_inputs():
    """Two different inputs from two tasks, as the tests' standard batch."""
    return ["sentiment sentence: the film was not good at all", "qa question: who won? context: ana won in 1990."]


# The app tests' checkpoint: tiny-bert2bert hyperdecoder, 2 training steps on three builtin tasks, a 15-per-task
# extraction and a cached PCA map (so no test compiles UMAP). A session fixture: {"checkpoints", "runs", "names"}.
APP_TASKS = ["sentiment", "topic", "qa"]
APP_NAMES = ("tiny-hyperdecoder", "tiny-hyperdecoder-b")  # the second is a copy, for the Methods page


def build_checkpoint(out: Path) -> Path:
    from analysis.extract.writer import extract
    from analysis.maps.projection import DEFAULT_MAP, checkpoint_map
    from analysis.model.checkpoint import load_checkpoint
    from analysis.train.loop import TrainConfig, train
    from app.services.maps import fallback

    cfg = TrainConfig(method="hyperdecoder", backbone="tiny-bert2bert", tasks=APP_TASKS, steps=2, batch_size=4,
                      warmup_steps=0, eval_every=2, eval_examples=4, max_train_examples=20)
    out.parent.mkdir(parents=True, exist_ok=True)  # train() writes its log beside the checkpoint
    train(cfg, out, progress=False)
    extract(load_checkpoint(out), out / "extraction", max_examples=15, progress=False)
    checkpoint_map(out, "embedding", fallback(DEFAULT_MAP))
    return out


@pytest.fixture(scope="session")
def app_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    first = build_checkpoint(root / "checkpoints" / APP_NAMES[0])
    shutil.copytree(first, first.with_name(APP_NAMES[1]))
    (root / "runs").mkdir()
    return {"checkpoints": root / "checkpoints", "runs": root / "runs", "names": APP_NAMES}
