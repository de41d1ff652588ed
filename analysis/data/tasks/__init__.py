"""Tasks and data: every task turns raw records into `Example`s and scores decoded predictions.

    task = get_task("sst2")                       # or "sentiment", a spec dict, or "name=file.csv:in,out"
    examples = task.load("validation", data_dir="data/sst2", max_examples=100)
    task.score(predictions, examples)             # {"accuracy": 91.2}
"""

from .base import OUTPUT_TYPES, Example, Task, normalize_text
from .builtin import builtin_tasks
from .classification import classification_tasks
from .custom import FORM, CustomTask, parse_custom_task
from .glue import glue_tasks
from .io import DataError
from .squad import SQUAD, SUBJQA, aggregate
from .summarization import summarization_tasks
from .tagging import CONLL2003

TASKS: dict[str, Task] = {}


def register_task(task: Task, replace: bool = False) -> Task:
    if task.name in TASKS and not replace:
        raise ValueError(f"task {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def known_tasks() -> list[str]:
    return sorted(TASKS)


def get_task(name_or_spec: str | dict | Task) -> Task:
    """A registered task by name, a task rebuilt from `Task.spec()`, or a custom task from its CLI string."""
    if isinstance(name_or_spec, Task):
        return name_or_spec
    if isinstance(name_or_spec, dict):
        options = dict(name_or_spec)
        if options.pop("kind", None) == "custom" or "path" in options:
            return CustomTask(**options)
        return get_task(options.pop("name")).with_options(**options)
    if "=" in name_or_spec:
        task = parse_custom_task(name_or_spec)
        if task.name in TASKS:
            raise ValueError(f"custom task name {task.name!r} is a known task's name; give your task another name "
                             f"(in --tasks {name_or_spec})")
        return task
    if name_or_spec not in TASKS:
        raise ValueError(f"unknown task {name_or_spec!r}; known tasks: {', '.join(known_tasks())} "
                         f"(or a custom task: {FORM})")
    return TASKS[name_or_spec]


def get_tasks(specs) -> list[Task]:
    """Tasks by `get_task`, sorted by name; a name given twice (say a built-in and a custom file) is refused."""
    tasks = sorted((get_task(t) for t in specs), key=lambda t: t.name)
    names = [t.name for t in tasks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"task name(s) {', '.join(twice)} given more than once (--tasks {' '.join(map(str, specs))}); "
                         "each task needs its own name")
    return tasks


for _task in [*glue_tasks(), *classification_tasks(), SQUAD, SUBJQA, *summarization_tasks(), CONLL2003, *builtin_tasks()]:
    register_task(_task)

BUILTIN_SUITE: tuple[str, ...] = tuple(sorted(t.name for t in builtin_tasks()))
# The real-text development suite's tasks (their data is not shipped: point --data-dir at a local copy)
REALDEV_SUITE: tuple[str, ...] = ("aeslc", "ag_news", "conll2003", "imdb", "snli", "subjqa", "trec")

__all__ = ["BUILTIN_SUITE", "REALDEV_SUITE", "OUTPUT_TYPES", "TASKS", "CustomTask", "DataError", "Example", "Task", "aggregate",
           "get_task", "get_tasks", "known_tasks", "normalize_text", "parse_custom_task", "register_task"]
