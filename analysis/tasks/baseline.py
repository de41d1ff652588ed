"""TF-IDF + logistic regression on each label task: how far word statistics alone get.

The builtin nli and paraphrase tasks are built so that this stays well below 100.
"""

from . import BUILTIN_SUITE, get_task


def builtin_label_tasks() -> list[str]:
    return [name for name in BUILTIN_SUITE if get_task(name).output_type == "label"]


def tfidf_baseline(task_names: list[str], seed: int = 0, data_dir: str | None = None) -> dict[str, float]:
    """Validation accuracy (0-100) per label task of TF-IDF (word 1-2 grams) + LogisticRegression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    results = {}
    for name in task_names:
        task = get_task(name)
        if task.output_type != "label":
            raise ValueError(f"task {name} is not a label task ({task.output_type})")
        train, validation = task.load("train", data_dir), task.load("validation", data_dir)
        model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=2000, random_state=seed))
        model.fit([ex.source for ex in train], [ex.target for ex in train])
        predictions = model.predict([ex.source for ex in validation])
        results[name] = task.score(list(predictions), validation).get("accuracy", float("nan"))
    return results


def run(args) -> None:
    results = tfidf_baseline(args.tasks, seed=args.seed, data_dir=args.data_dir)
    width = max(map(len, results), default=4)
    print(f"{'task':<{width}}  tf-idf accuracy")
    for name, accuracy in results.items():
        print(f"{name:<{width}}  {accuracy:6.1f}")


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("baseline", help="TF-IDF + logistic regression accuracy on label tasks")
    parser.add_argument("--tasks", nargs="+", default=builtin_label_tasks(), help="label tasks (default: the builtin ones)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="local data directory for hub tasks")
    parser.set_defaults(run=run)
