"""Each metric against values worked out by hand."""

import pytest

from analysis.data import metrics


def test_accuracy():
    assert metrics.accuracy(["a", "b", "x", "d"], ["a", "b", "c", "d"]) == 75.0


def test_binary_f1():
    # tp=2 (idx 0, 4), fp=1 (idx 1), fn=1 (idx 3): F1 = 2*2 / (2*2 + 1 + 1) = 2/3
    assert metrics.binary_f1([1, 1, 0, 0, 1], [1, 0, 0, 1, 1], positive=1) == pytest.approx(200 / 3)
    # an unparseable prediction is never positive: here it is a false negative
    assert metrics.binary_f1(["1", "<unknown>"], ["1", "1"], positive="1") == pytest.approx(200 / 3)
    assert metrics.binary_f1(["0", "0"], ["1", "0"], positive="1") == 0.0


def test_matthews_corr():
    # tp=2 tn=1 fp=1 fn=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    assert metrics.matthews_corr([1, 1, 0, 0, 1], [1, 0, 0, 1, 1]) == pytest.approx(100 / 6)
    assert metrics.matthews_corr(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(100.0)


def test_correlations():
    # dx = (-1, 0, 1), dy = (-4/3, -1/3, 5/3): r = 3 / sqrt(2 * 42/9)
    assert metrics.pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(100 * 3 / (2 * 42 / 9) ** 0.5)
    assert metrics.spearman([1, 2, 3], [1, 2, 4]) == pytest.approx(100.0)
    assert metrics.spearman([3, 2, 1], [1, 2, 4]) == pytest.approx(-100.0)
    assert metrics.pearson([2, 2, 2], [1, 2, 4]) == 0.0  # constant predictions: undefined -> 0


def test_squad():
    assert metrics.squad(["the Eiffel Tower!"], [["Eiffel tower"]]) == {"exact_match": 100.0, "f1": 100.0}
    # "tower" vs "eiffel tower": P = 1, R = 1/2, F1 = 2/3
    scores = metrics.squad(["tower"], [["eiffel tower"]])
    assert scores["exact_match"] == 0.0 and scores["f1"] == pytest.approx(200 / 3)
    # max over gold answers, mean over questions
    scores = metrics.squad(["paris", "rome"], [["london", "paris"], ["madrid"]])
    assert scores == {"exact_match": 50.0, "f1": 50.0}
    assert metrics.squad([""], [[""]])["f1"] == 100.0


def test_rouge():
    # unigrams: P = 3/3, R = 3/6 -> 2/3; bigrams: P = 2/2, R = 2/5 -> 4/7; LCS = 3 -> 2/3
    scores = metrics.rouge(["the cat sat"], ["the cat sat on the mat"])
    assert scores["rouge1"] == pytest.approx(200 / 3)
    assert scores["rouge2"] == pytest.approx(400 / 7)
    assert scores["rougeL"] == pytest.approx(200 / 3)
    assert metrics.rouge(["cats running"], ["cat runs"])["rouge1"] == pytest.approx(100.0)  # stemming


def test_seqeval_f1():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    # one of two gold entities found, no false positives: P = 1, R = 1/2
    assert metrics.seqeval_f1([["B-PER", "I-PER", "O", "O"]], gold) == pytest.approx(200 / 3)
    assert metrics.seqeval_f1([["B-PER", "I-PER"]], gold) == pytest.approx(200 / 3)  # padded with O
    assert metrics.seqeval_f1([["B-PER", "I-PER", "O", "B-LOC", "B-ORG"]], gold) == pytest.approx(100.0)  # truncated


def test_length_mismatch_and_empty():
    with pytest.raises(ValueError, match="2 predictions for 1"):
        metrics.accuracy(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="empty"):
        metrics.rouge([], [])
