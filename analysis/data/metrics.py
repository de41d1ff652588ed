"""Evaluation metrics, all on a 0-100 scale.

Inputs are already parsed by the task (label strings, floats, tag lists); text normalisation of
model output lives in `analysis.data.tasks.base.normalize_text`.
"""

import re
import string
import warnings
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np


def _check(predictions: Sequence, references: Sequence) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("cannot score an empty set")


def accuracy(predictions: Sequence[Hashable], references: Sequence[Hashable]) -> float:
    _check(predictions, references)
    return 100.0 * sum(p == r for p, r in zip(predictions, references)) / len(references)


def binary_f1(predictions: Sequence[Hashable], references: Sequence[Hashable], positive: Hashable) -> float:
    """F1 of the positive class; any other prediction (including an unparseable one) counts as negative."""
    _check(predictions, references)
    tp = sum(p == positive and r == positive for p, r in zip(predictions, references))
    fp = sum(p == positive and r != positive for p, r in zip(predictions, references))
    fn = sum(p != positive and r == positive for p, r in zip(predictions, references))
    return 100.0 * 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def matthews_corr(predictions: Sequence[Hashable], references: Sequence[Hashable]) -> float:
    """Multiclass MCC (Gorodkin's R_K); an unparseable prediction is just one more (always wrong) class."""
    from sklearn.metrics import matthews_corrcoef

    _check(predictions, references)
    classes = sorted({*map(str, predictions), *map(str, references)})
    index = {c: i for i, c in enumerate(classes)}
    return 100.0 * float(matthews_corrcoef([index[str(r)] for r in references], [index[str(p)] for p in predictions]))


def _correlation(fn, predictions: Sequence[float], references: Sequence[float]) -> float:
    _check(predictions, references)
    with warnings.catch_warnings():  # constant input: scipy warns and returns nan; we report 0
        warnings.simplefilter("ignore")
        value = fn(np.asarray(predictions, float), np.asarray(references, float))[0]
    return 0.0 if np.isnan(value) else 100.0 * float(value)


def pearson(predictions: Sequence[float], references: Sequence[float]) -> float:
    from scipy.stats import pearsonr

    return _correlation(pearsonr, predictions, references)


def spearman(predictions: Sequence[float], references: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    return _correlation(spearmanr, predictions, references)


# --- SQuAD (the official v1.1 evaluation script's normalisation) ---

def squad_normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_f1_single(prediction: str, answer: str) -> float:
    pred, gold = squad_normalize(prediction).split(), squad_normalize(answer).split()
    if not pred or not gold:  # a no-answer case scores 1 only when both are empty
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> dict[str, float]:
    """Exact match and token F1, each the max over the gold answers of a question."""
    _check(predictions, answers)
    em = f1 = 0.0
    for prediction, golds in zip(predictions, answers):
        golds = list(golds) or [""]
        em += max(float(squad_normalize(prediction) == squad_normalize(g)) for g in golds)
        f1 += max(squad_f1_single(prediction, g) for g in golds)
    return {"exact_match": 100.0 * em / len(answers), "f1": 100.0 * f1 / len(answers)}


# --- ROUGE (rouge_score directly: `evaluate.load` would need the hub) ---

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")  # rougeLsum splits summaries into lines (one sentence each)


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L/Lsum F-measure with Porter stemming (the summarisation papers report R-Lsum)."""
    from rouge_score import rouge_scorer

    _check(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # argument order: (target, prediction)
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    return {name: 100.0 * total / len(references) for name, total in totals.items()}


# --- sequence labelling ---

def seqeval_f1(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Entity-level micro F1 on BIO tags; each prediction is padded with O / truncated to its gold length."""
    from seqeval.metrics import f1_score

    _check(predictions, references)
    fitted = [(list(p) + ["O"] * len(r))[: len(r)] for p, r in zip(predictions, references)]
    return 100.0 * float(f1_score([list(r) for r in references], fitted))
