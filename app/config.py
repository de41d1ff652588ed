"""Where the explorer finds checkpoints and writes runs. Environment variables override, for tests."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_DIRS = [Path(p) for p in os.environ.get("HYPERLENS_CHECKPOINTS", str(ROOT / "checkpoints")).split(os.pathsep)]
RUNS_DIR = Path(os.environ.get("HYPERLENS_RUNS", str(ROOT / "runs")))
# maps the explorer computes: outside the repository, so shipped checkpoints stay as cloned (read only)
CACHE_DIR = Path(os.environ.get("HYPERLENS_CACHE", "~/.cache/hyperlens")).expanduser() / "projections"
DEFAULT_CHECKPOINT = os.environ.get("HYPERLENS_DEFAULT", "hyperdecoder-builtin")
MAX_UPLOAD_MB = 20
WARMUP_UMAP = os.environ.get("HYPERLENS_WARMUP_UMAP", "1") != "0"  # tests turn the background compile off
SERVER_THREADS = min(2, os.cpu_count() or 1)  # torch threads for the explorer's model calls
EXIT_GRACE_SECONDS = 3.0  # after the server starts stopping, the process ends within this many seconds
