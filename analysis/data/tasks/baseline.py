"""Simple baselines, one per output type, each scored with the task's own metric:

label  TF-IDF (word 1-2 grams) + logistic regression          accuracy (or the task's first metric)
span   the context window that shares most words with the question  SQuAD F1
text   the first 8 words of the document                       ROUGE-1
tags   each word's most frequent tag in train (O when unseen)  seqeval F1
"""

from collections import Counter, defaultdict

from analysis.cli import number
from analysis.data import metrics

from . import BUILTIN_SUITE, get_task
from .base import Example, normalize_text

LEAD_WORDS = 8
WINDOW_WORDS = (4, 8, 16)  # span baseline: the window size is chosen on train


def builtin_label_tasks() -> list[str]:
    return [name for name in BUILTIN_SUITE if get_task(name).output_type == "label"]


def tfidf(train: list[Example], validation: list[Example], seed: int = 0) -> list[str]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if len(labels := sorted({ex.target for ex in train})) < 2:
        raise ValueError(f"its train split has one label only ({labels[0]!r}); a classifier needs two or more")
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=2000, random_state=seed))
    model.fit([ex.source for ex in train], [ex.target for ex in train])
    return list(model.predict([ex.source for ex in validation]))


def best_window(question: str, context: str, size: int) -> str:
    asked = set(normalize_text(question).split())
    words = context.split()
    starts = range(max(1, len(words) - size + 1))
    start = max(starts, key=lambda s: (sum(normalize_text(w) in asked for w in words[s:s + size]), -s))
    return " ".join(words[start:start + size])


def windows(train: list[Example], validation: list[Example], seed: int = 0) -> list[str]:
    def answers(examples, size):
        return [best_window(e.extra["question"], e.extra["context"], size) for e in examples]

    def f1(examples, size):
        return metrics.squad(answers(examples, size), [e.extra["answers"] or [e.target] for e in examples])["f1"]

    size = max(WINDOW_WORDS, key=lambda s: f1(train[:500], s))
    return answers(validation, size)


def lead(train: list[Example], validation: list[Example], seed: int = 0) -> list[str]:
    return [" ".join(e.source.split()[1:1 + LEAD_WORDS]) for e in validation]  # word 0 is the task prefix


def majority_tags(train: list[Example], validation: list[Example], seed: int = 0) -> list[str]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for e in train:
        for word, tag in zip(e.extra["tokens"], e.extra["tags"]):
            counts[word][tag] += 1
    tags = [[counts[w].most_common(1)[0][0] if w in counts else "O" for w in e.extra["tokens"]] for e in validation]
    return [get_task(e.task).render(e.extra["tokens"], t) for e, t in zip(validation, tags)]


BASELINES = {"label": ("TF-IDF + logistic regression", tfidf), "span": ("best-overlap window", windows),
             "text": (f"first {LEAD_WORDS} words", lead), "tags": ("most frequent tag per word", majority_tags)}
HEADLINE_METRIC = {"span": "f1", "text": "rouge1", "tags": "f1"}


def headline_metric(task) -> str:
    """The one number a task is compared on: accuracy (or its first metric), SQuAD F1, ROUGE-1, seqeval F1."""
    return HEADLINE_METRIC.get(task.output_type, task.metric_names[0])


def baseline(name: str, data_dir: str | None = None, seed: int = 0) -> tuple[str, str, float]:
    """(baseline, metric, validation score 0-100) for one task, trained on its train split."""
    task = get_task(name)
    if task.output_type not in BASELINES:
        raise ValueError(f"task {name}: no baseline for output type {task.output_type}")
    what, predict = BASELINES[task.output_type]
    train, validation = task.load("train", data_dir), task.load("validation", data_dir)
    metric = headline_metric(task)
    try:
        predictions = predict(train, validation, seed)
    except ValueError as e:
        raise ValueError(f"task {name}: no {what} baseline: {e}") from None
    return what, metric, task.score(predictions, validation)[metric]


def tfidf_baseline(task_names: list[str], seed: int = 0, data_dir: str | None = None) -> dict[str, float]:
    """Validation accuracy (0-100) per label task of TF-IDF (word 1-2 grams) + LogisticRegression."""
    for name in task_names:
        if get_task(name).output_type != "label":
            raise ValueError(f"task {name} is not a label task ({get_task(name).output_type})")
    return {name: baseline(name, data_dir, seed)[2] for name in task_names}


def run(args) -> None:
    from . import get_tasks
    get_tasks(args.tasks)  # unknown or repeated tasks refused before any work
    rows = [(name, *baseline(name, args.data_dir, args.seed)) for name in args.tasks]
    width = max((len(r[0]) for r in rows), default=4)
    print(f"{'task':<{width}}  {'baseline':<30}{'metric':<10}{'score':>6}")
    for name, what, metric, score in rows:
        print(f"{name:<{width}}  {what:<30}{metric:<10}{score:6.1f}")


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("baseline", help="each task's simple baseline, scored with its own metric")
    parser.add_argument("--tasks", nargs="+", default=builtin_label_tasks(), help="tasks (default: the builtin label tasks)")
    parser.add_argument("--seed", type=number(int, 0, 2**32 - 1), default=0)
    parser.add_argument("--data-dir", default=None, help="local data directory for hub tasks")
    parser.set_defaults(run=run)
