"""Free-text generation tasks (summarisation), scored with ROUGE-1/2/L F-measure with stemming."""

from dataclasses import dataclass

from analysis.data import metrics

from .base import Example, Task, normalize_text, text_field


def score_text(predictions, examples: list[Example]) -> dict[str, float]:
    return metrics.rouge([normalize_text(p) for p in predictions], [normalize_text(ex.target) for ex in examples])


@dataclass(kw_only=True)
class TextTask(Task):
    name: str
    document: str = "document"  # source field
    summary: str = "summary"  # target field
    prefix: str = "summarize:"
    output_type = "text"
    metric_names = metrics.ROUGE_TYPES

    def format(self, raw: dict, idx: int, split: str) -> Example:
        source = f"{self.prefix} {text_field(raw, self.document)}"
        return Example(self.example_id(split, idx), self.name, source, text_field(raw, self.summary), None, "text")

    def _score(self, predictions, examples):
        return score_text(predictions, examples)


def summarization_tasks() -> list[TextTask]:
    return [
        TextTask(name="xsum", hub=("EdinburghNLP/xsum",)),
        TextTask(name="cnn_dailymail", document="article", summary="highlights", hub=("abisee/cnn_dailymail", "3.0.0")),
        TextTask(name="samsum", document="dialogue", hub=("Samsung/samsum",)),
        TextTask(name="dialogsum", document="dialogue", hub=("knkarthick/dialogsum",)),
        TextTask(name="aeslc", document="email_body", summary="subject_line", prefix="subject:", hub=("Yale-LILY/aeslc",)),
    ]
