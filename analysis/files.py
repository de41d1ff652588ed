"""Atomic file writes: a reader never sees a half-written file, and a failed write leaves the old one."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from analysis.errors import HyperLensError


def make_parent(path: str | Path) -> None:
    """Create `path`'s parent folders, or say which of them is a file."""
    path = Path(path)
    for folder in reversed(path.parents):
        if folder.exists() and not folder.is_dir():
            raise HyperLensError(f"cannot write {path}: {folder} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)


def check_output_file(path: str | Path, overwrite: bool) -> Path:
    """Before any work: `path` can take a new file (an existing one only with --overwrite)."""
    path = Path(path)
    make_parent(path)
    if path.is_dir():
        raise HyperLensError(f"{path} is a folder; give a file name to write")
    if path.exists() and not overwrite:
        raise HyperLensError(f"{path} already exists; pass --overwrite to replace it, or choose another path")
    return path


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = check_output_file(path, overwrite=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; what it becomes is an ordinary shared file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | Path):
    """A JSON file's content; a file that is not valid JSON is named in the error."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise HyperLensError(f"{path} is not valid JSON ({e}); restore it or recreate it with the command that "
                             "wrote it") from None


def write_json(obj, path: str | Path) -> Path:
    """Pretty, key-sorted JSON, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return Path(path)
