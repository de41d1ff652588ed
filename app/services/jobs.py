"""Training runs started from the app: a detached driver runs `train`, then `extract`, tracked by files.

    RUNS_DIR/<name>/            the checkpoint (train writes it, extract adds extraction/)
    RUNS_DIR/<name>.log.jsonl   one record per training step (train writes it)
    RUNS_DIR/<name>.out         the driver's and its children's stdout and stderr
    RUNS_DIR/<name>.job.json    the Job record; the driver sets its phase and final status

Everything lives in files, so a browser refresh or an app restart finds running jobs again.
The driver leads its own process group: cancelling kills it and the train/extract child together.
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from analysis import ENVIRONMENT
from analysis.files import write_json
from analysis.layout import log_records
from app import config

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
EXTRACT_EXAMPLES = 200  # per task: enough for a readable map, quick to extract
EVALUATIONS, EVAL_EXAMPLES = 5, 20  # held-out checks in a run (the live chart's points), rows per task in each
RUNNING, FINISHED, FAILED, CANCELLED = "running", "finished", "failed", "cancelled"


@dataclass
class Job:
    name: str
    train: list[str]  # the full train command line
    extract: list[str]
    steps: int
    pid: int = 0
    started: float = field(default_factory=time.time)
    phase: str = "training"  # then "extracting"
    status: str = RUNNING
    returncode: int | None = None


@dataclass
class Status:
    state: str
    phase: str
    message: str = ""  # for a failed job: the tail of its output


def _paths(name: str) -> dict[str, Path]:
    d = Path(config.RUNS_DIR)
    return {"dir": d / name, "log": d / f"{name}.log.jsonl", "out": d / f"{name}.out", "job": d / f"{name}.job.json"}


def _save(job: Job, path: Path) -> None:
    write_json(asdict(job), path)  # atomic: the app may read while the driver writes


def load(name: str) -> Job:
    return Job(**json.loads(_paths(name)["job"].read_text()))


def list_jobs() -> list[str]:
    """Names of all jobs in the runs dir, the latest started first."""
    names = [f.name.removesuffix(".job.json") for f in Path(config.RUNS_DIR).glob("*.job.json")]
    return sorted(names, key=lambda name: -load(name).started)


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise ValueError(f"run name {name!r}: use 1-64 letters, digits, '-' or '_'")
    taken = [p for p in _paths(name).values() if p.exists()]
    taken += [d / name for d in config.CHECKPOINT_DIRS if (d / name).exists()]
    if taken:
        raise ValueError(f"run name {name!r} is taken ({taken[0]}); pick another name")


def start(name: str, tasks: list[str], method: str, backbone: str, steps: int, batch_size: int,
          data_dir: str | None = None, extra: tuple[str, ...] = ()) -> Job:
    """Launch train + extract in the background, with EVALUATIONS held-out checks along the way; `extra` holds
    further `train` flags (they override these)."""
    check_name(name)
    paths = _paths(name)
    paths["job"].parent.mkdir(parents=True, exist_ok=True)
    python = [sys.executable, "-m", "analysis"]
    train = [*python, "train", "--method", method, "--backbone", backbone, "--tasks", *tasks, "--steps", str(steps),
             "--batch-size", str(batch_size), "--output", str(paths["dir"]),
             "--eval-every", str(max(1, steps // EVALUATIONS)), "--eval-examples", str(EVAL_EXAMPLES),
             *(("--data-dir", data_dir) if data_dir else ()), *extra]
    extract = [*python, "extract", str(paths["dir"]), "--max-examples", str(EXTRACT_EXAMPLES)]
    job = Job(name, train, extract, steps)
    _save(job, paths["job"])
    env = {**os.environ, **ENVIRONMENT}
    with paths["out"].open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.services.jobs", str(paths["job"])], cwd=config.ROOT,
                                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    job.pid = proc.pid
    _save(job, paths["job"])
    return job


def _alive(pid: int) -> bool:
    if pid <= 0:  # not recorded yet; never signal our own process group
        return False
    try:  # reap it if it is our child, else it would linger as a zombie that looks alive
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # started by an earlier app process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    text = path.read_text(errors="replace").replace("\r", "\n")  # tqdm redraws its bar with \r
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def status(name: str) -> Status:
    job = load(name)
    if job.status == RUNNING and job.pid and not _alive(job.pid):
        job = load(name)  # it may have recorded its outcome just before it exited
        if job.status == RUNNING:
            job.status = FAILED  # it died without recording one (killed, out of memory)
    message = tail(_paths(name)["out"]) if job.status == FAILED else ""
    return Status(job.status, job.phase, message)


def read_log(name: str) -> list[dict]:
    """The training log so far; a half-written last line is skipped."""
    path = _paths(name)["log"]
    return [r for _, r in log_records(path)] if path.exists() else []


def seconds_left(log: list[dict], steps: int) -> float | None:
    """Training time left at the run's pace so far (the log's clock runs on across a resume): evaluations so far
    are in the pace, the extraction after training is not."""
    timed = [r for r in log if type(r.get("step")) is int and type(r.get("seconds")) in (int, float)
             and math.isfinite(r["seconds"])]
    if not timed or timed[-1]["step"] >= steps:
        return None
    return timed[-1]["seconds"] / timed[-1]["step"] * (steps - timed[-1]["step"])


def duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    return f"about {seconds / 60:.0f} min" if seconds < 5400 else f"about {seconds / 3600:.1f} h"


def cancel(name: str) -> None:
    job = load(name)
    if job.status != RUNNING or job.pid <= 0:
        return
    try:
        os.killpg(job.pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(job.pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(job.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    job.status = CANCELLED
    _save(job, _paths(name)["job"])


def drive(job_file: Path) -> int:
    """The background driver: train, then extract when training succeeded; record the outcome."""
    job = Job(**json.loads(job_file.read_text()))
    job.pid = os.getpid()  # start() records it too, but may not have yet
    _save(job, job_file)
    code = subprocess.call(job.train)
    if code == 0:
        job.phase = "extracting"
        _save(job, job_file)
        code = subprocess.call(job.extract)
    job.status, job.returncode = (FINISHED if code == 0 else FAILED), code
    _save(job, job_file)
    return code


if __name__ == "__main__":
    sys.exit(drive(Path(sys.argv[1])))
