"""Sampler proportions, exact resume, NaN handling, evaluation format, on a tiny backbone."""
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from analysis.data.batching import MultiTaskSampler, task_probabilities
from analysis.data.tasks import Example
from analysis.train.evaluate import average
from analysis.train.loop import TrainConfig, TrainingError, train

TINY = dict(method="hyperdecoder", backbone="tiny-bert2bert", tasks=["sentiment", "topic"], batch_size=4,
            max_train_examples=40, eval_examples=4, max_target_length=8, lr=1e-3, warmup_steps=2,
            method_config={"encoder_adapter_dim": 4, "decoder_adapter_dim": 4, "generator_hidden": 8})


def fake(task, n):
    return [Example(f"{task}-{i}", task, f"{task} {i}", "x", None, "text") for i in range(n)]


def test_task_probabilities():
    p = task_probabilities({"big": 1000, "small": 10})
    assert p["big"] == pytest.approx(1000 / 1010)
    p10 = task_probabilities({"big": 1000, "small": 10}, temperature=10)
    assert p10["big"] == pytest.approx(1000 ** 0.1 / (1000 ** 0.1 + 10 ** 0.1))


def test_task_weights_scale_the_sampling_probability():
    p = task_probabilities({"a": 100, "b": 100, "c": 200}, weights={"a": 3})
    assert (p["a"], p["b"], p["c"]) == pytest.approx((0.5, 1 / 6, 1 / 3))
    data = {"a": fake("a", 100), "b": fake("b", 100)}
    counts = Counter(e.task for k in range(1000) for e in MultiTaskSampler(data, 8, weights={"b": 3}).batch(k))
    assert counts["b"] / sum(counts.values()) == pytest.approx(0.75, abs=0.02)
    with pytest.raises(ValueError, match="unknown task"):
        task_probabilities({"a": 1}, weights={"nli": 2})
    with pytest.raises(ValueError, match="positive"):
        task_probabilities({"a": 1}, weights={"a": 0})


@pytest.mark.parametrize("temperature,mixed", [(1.0, True), (10.0, True), (10.0, False)])
def test_sampler_proportions(temperature, mixed):
    data = {"a": fake("a", 900), "b": fake("b", 100)}
    s = MultiTaskSampler(data, batch_size=8, temperature=temperature, mixed=mixed, seed=0)
    counts = Counter(e.task for step in range(2000) for e in s.batch(step))
    expected = task_probabilities({"a": 900, "b": 100}, temperature)["a"]
    assert counts["a"] / sum(counts.values()) == pytest.approx(expected, abs=0.02)
    if not mixed:
        assert all(len({e.task for e in s.batch(k)}) == 1 for k in range(50))


def test_sampler_is_a_function_of_the_step():
    data = {"a": fake("a", 50), "b": fake("b", 50)}
    s1, s2 = MultiTaskSampler(data, 4, seed=3), MultiTaskSampler(data, 4, seed=3)
    assert [e.id for e in s1.batch(17)] == [e.id for e in s2.batch(17)]
    assert [e.id for e in s1.batch(17)] != [e.id for e in s1.batch(18)]


def test_average_is_mean_of_task_means():
    assert average({"a": {"f1": 80.0, "accuracy": 60.0}, "b": {"accuracy": 50.0}}) == pytest.approx(60.0)


def _weights(path):
    return load_file(str(path / "adapter_model.safetensors"))


def test_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    cfg = TrainConfig(**TINY, steps=6, eval_every=3)
    train(cfg, tmp_path / "full", progress=False)
    # interrupted run: crash right after the state saved at step 3, then resume with the same command
    import analysis.train.loop as T
    real_collate, calls = T.collate, {"n": 0}

    def crash_after_three(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_collate(*a, **k)
    monkeypatch.setattr(T, "collate", crash_after_three)
    clock = iter(range(10**6))
    monkeypatch.setattr(T.time, "time", lambda: float(next(clock)))  # a second a call: the log's clock, readable
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "resumed", progress=False)
    assert (tmp_path / "resumed.state").exists()
    monkeypatch.setattr(T, "collate", real_collate)
    train(cfg, tmp_path / "resumed", progress=False)
    log = [json.loads(line) for line in (tmp_path / "resumed" / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]  # nothing lost, nothing repeated
    assert log[3]["seconds"] > log[2]["seconds"]  # the clock runs on across the resume: the run's time is the last
    full_log = [json.loads(line) for line in (tmp_path / "full" / "training_log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in log] == [r["loss"] for r in full_log]
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "resumed.state").exists()


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = TrainConfig(**TINY, steps=6, eval_every=2)
    import analysis.model.hyperlens as M
    real_forward = M.HyperLensModel.forward
    calls = {"n": 0}

    def nan_at_step_five(self, *a, **k):
        out = real_forward(self, *a, **k)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 5:
                out.loss = out.loss * float("nan")
        return out
    monkeypatch.setattr(M.HyperLensModel, "forward", nan_at_step_five)
    with pytest.raises(TrainingError, match="loss became nan at step 4") as e:
        train(cfg, tmp_path / "run", progress=False)
    assert "resume" in str(e.value)
    assert (tmp_path / "run" / "adapter_model.safetensors").exists()
    state = json.loads((tmp_path / "run.state" / "trainer_state.json").read_text())
    assert state["step"] == 4
    assert all(torch.isfinite(t).all() for t in _weights(tmp_path / "run").values())


def test_train_writes_metrics_in_the_evaluate_format(tmp_path):
    result = train(TrainConfig(**TINY, steps=2, eval_every=2), tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved == result and set(saved) == {"tasks", "average"}
    assert set(saved["tasks"]) == {"sentiment", "topic"} and saved["tasks"]["topic"].keys() == {"accuracy"}
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["training"]["steps"] == 2 and cfg["task_specs"][0]["name"] == "sentiment"
    assert set(cfg["target_lengths"]) == {"sentiment", "topic"} and all(2 <= n <= 8 for n in cfg["target_lengths"].values())
    assert cfg["training"]["selection"] == {"sentiment": "4 rows held out of train", "topic": "4 rows held out of train"}


def test_health_monitor_flags_a_collapsed_encoder_and_stays_quiet_on_a_healthy_run(tmp_path):
    from types import SimpleNamespace

    from analysis.train.monitor import HealthMonitor
    torch.manual_seed(0)
    mask = torch.ones(4, 6, dtype=torch.long)
    batch = {"attention_mask": mask, "labels": torch.randint(0, 10, (4, 3))}

    def output(scale):
        return SimpleNamespace(encoder_hidden=torch.randn(4, 6, 8) * scale, state=SimpleNamespace(generated={}),
                               logits=torch.randn(4, 3, 10))
    monitor = HealthMonitor(every=1)
    first = monitor.observe(0, output(1.0), batch, ["a", "a", "b", "b"])
    assert 0.8 < first["encoder_spread"] < 1.2 and set(first["task_loss"]) == {"a", "b"} and "warning" not in first
    assert "warning" not in monitor.observe(1, output(0.8), batch, ["a"] * 4)
    collapsed = monitor.observe(2, output(0.1), batch, ["a"] * 4)
    assert collapsed["warning"].startswith("encoder output collapsed at step 3") and monitor.collapsed_at == 3
    assert "warning" not in monitor.observe(3, output(0.05), batch, ["a"] * 4)  # said once
    train(TrainConfig(**TINY, steps=2, eval_every=2), tmp_path / "run", progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "training_log.jsonl").read_text().splitlines()]
    health = log[0]["health"]
    assert health["encoder_spread"] > 0 and set(health["generated_norm"]) == {"decoder"} and "warning" not in health


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux); elsewhere nothing is set")
def test_training_keeps_freed_memory_for_the_next_step():
    """glibc returns freed blocks to the OS, so the next step page-faults them back in; once `train` has called
    keep_freed_memory, blocks under 32 MB stay in the process. A subprocess: the setting is process-wide."""
    code = textwrap.dedent("""
        import os, torch
        from analysis.train.allocator import keep_freed_memory
        def resident_after_freeing(blocks=8):
            held = [torch.ones(4 * 2**20) for _ in range(blocks)]  # 8 x 16 MB
            del held
            return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        default = resident_after_freeing()
        applied = keep_freed_memory()
        print(applied, default, resident_after_freeing())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    applied, default, kept = out[0] == "True", int(out[1]), int(out[2])
    assert applied
    assert kept - default > 100 * 2**20  # the freed blocks are still resident, ready for reuse


def test_train_keeps_freed_memory_before_its_first_step(tmp_path, monkeypatch):
    import analysis.train.loop as loop
    calls = []
    monkeypatch.setattr(loop, "keep_freed_memory", lambda: calls.append(True))
    train(TrainConfig(**TINY, steps=1, eval_every=1), tmp_path / "run", progress=False)
    assert calls == [True]


@pytest.mark.parametrize("method,batches,tasks", [("hyperformer", "own", [0]), ("hyperloader", "own", [0]),
                                                  ("hyperdecoder", "own", [0, 1, 2, 3]),
                                                  ("hyperformer", "mixed", [0, 1, 2, 3])])
def test_the_step_time_bench_draws_each_methods_batches_as_train_does(method, batches, tasks):
    from bench.step_time import batch_task_ids
    ids = batch_task_ids(method, 32, batches)
    assert sorted(set(ids.tolist())) == tasks and ids.tolist() == sorted(ids.tolist())
