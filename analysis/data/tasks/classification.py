"""Real-text classification tasks in the hub's layout: topic, question type, NLI and review sentiment.

Targets are readable label words (the decoder is a language model), `Example.label` the hub's label name.
"""

from .label import LabelTask

# name: (hub dataset, input fields, label field, hub label names, target words)
CLASSIFICATION = {
    "ag_news": ("fancyzhx/ag_news", ("text",), "label", ("World", "Sports", "Business", "Sci/Tech"),
                ("world", "sports", "business", "science")),
    "trec": ("CogComp/trec", ("text",), "coarse_label", ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"),
             ("abbreviation", "entity", "description", "human", "location", "number")),
    "snli": ("stanfordnlp/snli", ("premise", "hypothesis"), "label", ("entailment", "neutral", "contradiction"), ()),
    "imdb": ("stanfordnlp/imdb", ("text",), "label", ("neg", "pos"), ("negative", "positive")),
}
TEST_AS_VALIDATION = {"validation": "test"}  # these hub datasets have no validation split


def classification_tasks() -> list[LabelTask]:
    return [LabelTask(name=name, hub=(hub,), hub_splits={} if name == "snli" else TEST_AS_VALIDATION, fields=fields,
                      label_field=label_field, labels=labels, targets=targets, keep_tail=name == "imdb")
            for name, (hub, fields, label_field, labels, targets) in CLASSIFICATION.items()]
