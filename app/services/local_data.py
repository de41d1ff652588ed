"""Known tasks found in a local data directory in the hub's layout (DIR/<task>/{train,validation}.jsonl|csv|tsv)."""
from __future__ import annotations

from pathlib import Path

from analysis.data.tasks import TASKS, DataError
from analysis.data.tasks.io import find_split_file, read_records


def rows(path: Path) -> int:
    return sum(1 for _ in read_records(path))


def find_tasks(directory: str) -> list[dict]:
    """One row per known task folder under `directory`: name, kind and row counts of both splits, or the problem."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DataError(f"{directory}: no such directory")
    found = []
    for name in sorted(p.name for p in root.iterdir() if p.is_dir()):
        task = TASKS.get(name)
        if task is None:
            continue
        if task.synthetic is not None:
            found.append({"task": name, "output": task.output_type, "train rows": 0, "validation rows": 0,
                          "problem": "a built-in task generates its data: this folder is not read (upload the files "
                                     "as a custom task under another name)"})
            continue
        try:
            counts = {split: rows(find_split_file(root / name, split)) for split in ("train", "validation")}
        except DataError as e:
            found.append({"task": name, "output": task.output_type, "train rows": 0, "validation rows": 0, "problem": str(e)})
            continue
        found.append({"task": name, "output": task.output_type, "train rows": counts["train"],
                      "validation rows": counts["validation"], "problem": ""})
    return found
