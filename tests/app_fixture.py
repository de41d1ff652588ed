"""A tiny trained checkpoint for the app tests: tiny-bert2bert hyperdecoder, 2 training steps on three builtin
tasks, a 15-per-task extraction and a cached PCA map (so no test ever compiles UMAP).

    from tests.app_fixture import app_env   # the session fixture: {"checkpoints", "runs", "names"}
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TASKS = ["sentiment", "topic", "qa"]
NAMES = ("tiny-hyperdecoder", "tiny-hyperdecoder-b")  # the second is a copy, for the Methods page


def build_checkpoint(out: Path) -> Path:
    from analysis.checkpoint import load_checkpoint
    from analysis.extract import extract
    from analysis.report import checkpoint_map
    from analysis.train import TrainConfig, train
    from app.services.maps import FALLBACK_MAP

    cfg = TrainConfig(method="hyperdecoder", backbone="tiny-bert2bert", tasks=TASKS, steps=2, batch_size=4,
                      warmup_steps=0, eval_every=2, eval_examples=4, max_train_examples=20)
    out.parent.mkdir(parents=True, exist_ok=True)  # train() writes its log beside the checkpoint
    train(cfg, out, progress=False)
    extract(load_checkpoint(out), out / "extraction", max_examples=15, progress=False)
    checkpoint_map(out, "embedding", FALLBACK_MAP)
    return out


@pytest.fixture(scope="session")
def app_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    first = build_checkpoint(root / "checkpoints" / NAMES[0])
    shutil.copytree(first, first.with_name(NAMES[1]))
    (root / "runs").mkdir()
    return {"checkpoints": root / "checkpoints", "runs": root / "runs", "names": NAMES}
