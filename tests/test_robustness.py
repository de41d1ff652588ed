"""Bad input and faults: nothing lost, nothing silently wrong, never a traceback. Tiny backbones, no network."""
import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file, save_file

from analysis import ENVIRONMENT
from analysis.__main__ import main
from analysis.data.tasks import DataError, get_task, parse_custom_task
from analysis.data.tasks.io import find_split_file
from analysis.model.checkpoint import CheckpointError, load_checkpoint, recover_leftovers
from analysis.train.loop import TrainConfig, TrainingError, train

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(method="hyperdecoder", backbone="tiny-bert2bert", tasks=["sentiment", "topic"], batch_size=4,
            max_train_examples=40, eval_examples=4, max_target_length=8, lr=1e-3, warmup_steps=2,
            method_config={"encoder_adapter_dim": 4, "decoder_adapter_dim": 4, "generator_hidden": 8})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "run"
    train(TrainConfig(**TINY, steps=2, eval_every=2), path, progress=False)
    return path


def copy_checkpoint(src: Path, dst: Path, edit=None, tensors=None) -> Path:
    dst.mkdir()
    config = json.loads((src / "config.json").read_text())
    (dst / "config.json").write_text(json.dumps(edit(config) if edit else config))
    weights = load_file(str(src / "adapter_model.safetensors"))
    save_file(tensors(weights) if tensors else weights, str(dst / "adapter_model.safetensors"))
    return dst


# --- lost data and corrupted state ---

def test_an_existing_checkpoint_is_never_overwritten_without_the_flag(trained, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "MODEL_CARD.md").write_text("keep me")
    with pytest.raises(TrainingError, match="already exists .* --overwrite"):
        train(TrainConfig(**TINY, steps=2, eval_every=2), out, progress=False)
    assert (out / "MODEL_CARD.md").read_text() == "keep me"
    assert main(["train", "--backbone", "tiny-bert2bert", "--tasks", "sentiment", "--steps", "2", "--output", str(out)]) == 2
    train(TrainConfig(**TINY, steps=2, eval_every=2), out, progress=False, overwrite=True)
    assert (out / "metrics.json").exists() and not (out / "MODEL_CARD.md").exists()


def test_non_finite_weights_are_never_saved_and_the_advice_names_the_last_good_state(tmp_path, monkeypatch):
    import analysis.train.loop as T
    real, calls = T.evaluate_examples, {"n": 0}

    def nan_at_second(*a, **k):
        calls["n"] += 1
        result = real(*a, **k)
        return {**result, "average": float("nan")} if calls["n"] == 2 else result
    monkeypatch.setattr(T, "evaluate_examples", nan_at_second)
    with pytest.raises(TrainingError, match=r"stopped being finite by step 4.*last good state is .*run.state \(step 2\)"):
        train(TrainConfig(**TINY, steps=6, eval_every=2), tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["best_step"] == 2
    assert json.loads((tmp_path / "run.state" / "trainer_state.json").read_text())["step"] == 2


def test_a_second_run_on_the_same_output_fails_at_once_naming_the_first(tmp_path):
    lock = tmp_path / ".run.lock"
    with lock.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write("4242")
        f.flush()
        with pytest.raises(TrainingError, match=r"another training run \(pid 4242\) is writing"):
            train(TrainConfig(**TINY, steps=2, eval_every=2), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_crash_leftovers_are_recovered_or_cleaned(trained, tmp_path):
    run = tmp_path / "run"
    copy_checkpoint(trained, tmp_path / ".run.old-123")  # killed between the two renames of a save
    (tmp_path / ".run.tmp-abc").mkdir()
    recover_leftovers(run)
    assert load_checkpoint(run).tasks == ["sentiment", "topic"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- silent wrong results ---

@pytest.mark.parametrize("tasks", [["sentiment", "sentiment"], ["topic", "sentiment", "topic"]])
def test_duplicate_task_names_are_refused(tmp_path, tasks):
    with pytest.raises(ValueError, match="given more than once"):
        train(TrainConfig(**{**TINY, "tasks": tasks}, steps=2), tmp_path / "run", progress=False)


def test_a_custom_task_cannot_shadow_a_known_one(tmp_path):
    path = tmp_path / "rev.csv"
    path.write_text("text,stars\n" + "".join(f"review {i},{i % 2}\n" for i in range(20)))
    with pytest.raises(ValueError, match="custom task name 'sst2' is a known task's name"):
        train(TrainConfig(**{**TINY, "tasks": [f"sst2={path}:text,stars"]}, steps=2), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="rev given more than once"):
        train(TrainConfig(**{**TINY, "tasks": [f"rev={path}:text,stars", f"rev={path}:stars,text"]}, steps=2),
              tmp_path / "run", progress=False)


def test_a_task_without_its_own_data_folder_is_an_error(tmp_path):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.jsonl").write_text('{"sentence": "good", "label": 1}\n')
    assert find_split_file(tmp_path / "sst2", "train", subdir="sst2").name == "train.jsonl"
    with pytest.raises(DataError, match="no folder cola/ for task cola"):
        get_task("cola").load("train", data_dir=str(tmp_path / "sst2"))
    (tmp_path / "validation.jsonl").write_text('{"sentence": "another task", "label": 0}\n')  # beside, not in, sst2/
    with pytest.raises(DataError, match="sst2: no validation"):  # the task's folder lacks the split: no fallback
        find_split_file(tmp_path, "validation", subdir="sst2")


@pytest.mark.parametrize("option,value,message", [
    ("--batch-size", "0", "between 1 and 4096"), ("--eval-every", "0", "at least 1"), ("--temperature", "0", "between 0.01"),
    ("--temperature", "-1", "between 0.01"), ("--max-source-length", "1", "between 16"), ("--steps", "-1", "at least 1"),
    ("--steps", "0", "at least 1"), ("--batch-size", "-3", "between 1 and 4096"), ("--lr", "abc", "expected a number")])
def test_numeric_options_are_checked_with_their_range(capsys, option, value, message):
    with pytest.raises(SystemExit) as e:
        main(["train", "--output", "unused", option, value])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_evaluate_max_examples_must_be_positive(capsys, trained):
    with pytest.raises(SystemExit):
        main(["evaluate", str(trained), "--max-examples", "-1"])
    assert "at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("edit,message", [
    (lambda c: {**c, "tasks": []}, "non-empty list of task names"),
    (lambda c: [], "not a HyperLens checkpoint config"),
    (lambda c: {k: v for k, v in c.items() if k != "backbone"}, "lacks backbone"),
    (lambda c: {**c, "method_config": {**c["method_config"], "decoder_adapter_dim": -4}}, "must be positive"),
    (lambda c: {**c, "format_version": "2"}, "format_version must be a whole number"),
    (lambda c: {**c, "training": []}, "lacks training as an object"),
    (lambda c: {**c, "backbone": {**c["backbone"], "seed": "x"}}, "lacks backbone seed as a whole number"),
])
def test_bad_checkpoint_configs_are_refused_with_a_message(trained, tmp_path, edit, message):
    bad = copy_checkpoint(trained, tmp_path / "bad", edit=edit)
    with pytest.raises(ValueError, match=message):
        load_checkpoint(bad)
    assert main(["evaluate", str(bad)]) == 2


def test_nan_weights_are_refused(trained, tmp_path):
    bad = copy_checkpoint(trained, tmp_path / "bad", tensors=lambda w: {k: v * float("nan") for k, v in w.items()})
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(bad)


def test_a_backbone_of_the_same_name_but_another_seed_is_named_as_such(trained):
    from analysis.model.backbone import load_backbone
    with pytest.raises(CheckpointError, match="also called 'tiny-bert2bert', has another architecture or random seed"):
        load_checkpoint(trained, backbone=load_backbone("tiny-bert2bert", seed=999))


def test_missing_validation_data_fails_before_step_one(tmp_path):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.jsonl").write_text("".join(f'{{"sentence": "s {i}", "label": {i % 2}}}\n' for i in range(10)))
    with pytest.raises(DataError, match="no validation"):
        train(TrainConfig(**{**TINY, "tasks": ["sst2"]}, data_dir=str(tmp_path), steps=2), tmp_path / "run", progress=False)
    assert not (tmp_path / "run.log.jsonl").exists()
    one = tmp_path / "one.csv"
    one.write_text("text,label\nhello,a\n")
    with pytest.raises(DataError, match="has 1 row.*at least 2"):
        parse_custom_task(f"one={one}:text,label")


def test_huge_text_is_cut_before_tokenizing(trained):
    model = load_checkpoint(trained)
    ids, _ = model.tokenize(["word " * 2_000_000], max_length=32)
    assert ids.shape == (1, 32)


def test_empty_fields_and_unknown_vectors_get_a_message(tmp_path, trained):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.jsonl").write_text('{"sentence": "  ", "label": 1}\n')
    with pytest.raises(DataError, match=r"line 1: field 'sentence' is empty"):
        get_task("sst2").load("train", data_dir=str(tmp_path))
    from analysis.extract.reader import load_extraction
    from analysis.extract.writer import extract
    extract(load_checkpoint(trained), trained / "extraction", max_examples=3, progress=False)
    with pytest.raises(ValueError, match="no vector 'params.nope'.*choose embedding or one of params."):
        load_extraction(trained).vectors("params.nope")


def test_local_backbones_load_from_safetensors_only(tmp_path):
    from analysis.model.backbone import BackboneError, load_backbone
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(BackboneError, match=r"only pickle file\(s\) \['pytorch_model.bin'\]"):
        load_backbone(str(tmp_path))


# --- the app and its server ---

def test_the_server_listens_on_localhost_only():
    assert 'address = "localhost"' in (ROOT / ".streamlit" / "config.toml").read_text()


def test_csv_exports_cannot_inject_formulas():
    import pandas as pd

    from app.services.selection import to_csv
    text = to_csv(pd.DataFrame({"source": ["=cmd|' /C calc'!A0", "+1", "-2", "@x", "plain"], "n": [1, -2, 3, 4, 5]})).decode()
    assert "'=cmd" in text and "\n'+1," in text and "\n'-2," in text and "'@x" in text and "\nplain,5" in text
    assert ",-2\n" in text  # numbers stay numbers


@pytest.mark.slow  # starts Python processes that import torch
def test_cli_prints_one_line_for_a_project_error(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "x").write_text("")
    proc = subprocess.run([sys.executable, "-m", "analysis", "train", "--backbone", "tiny-bert2bert", "--tasks",
                           "sentiment", "--steps", "2", "--output", str(out)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **ENVIRONMENT})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "already exists" in proc.stderr


def test_tiny_extractions_get_a_message_or_a_pca_map(trained):
    from analysis.extract.writer import extract
    from analysis.maps.projection import ProjectionSettings, checkpoint_map
    from analysis.maps.report import checkpoint_report
    extract(load_checkpoint(trained), trained / "extraction", max_examples=2, progress=False)  # 4 rows
    with pytest.raises(ValueError, match="UMAP needs at least 20 points .* use --method pca"):
        checkpoint_map(trained, settings=ProjectionSettings(method="umap"))
    report = checkpoint_report(trained)
    assert report["n"] == 4 and "knn_accuracy" in report
    assert main(["project", str(trained), "--method", "tsne"]) == 2


def test_the_explorer_computes_maps_into_the_user_cache_not_the_checkpoint(tmp_path, monkeypatch):
    import numpy as np

    from analysis.maps.projection import ProjectionSettings, project
    from app import config
    from app.services import maps
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    shipped = tmp_path / "ckpt" / "extraction" / "projections"
    X = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    manager = maps.ProjectionManager()
    assert manager.get(X, ProjectionSettings(method="pca", n_components=2), shipped) is not None
    assert not shipped.exists() and len(list((tmp_path / "cache").glob("*.npy"))) == 1
    tsne = ProjectionSettings(method="tsne", n_components=2, seed=0)
    assert manager.get(X, tsne, shipped) is None  # never fitted on the spot, and a miss is not remembered
    project(X, tsne, cache_dir=shipped)  # what `python -m analysis project` ships
    hit = manager.get(X, tsne, shipped)
    assert hit is not None and hit.from_cache and len(list((tmp_path / "cache").glob("*.npy"))) == 1
    assert all(oct(p.stat().st_mode)[-3:] == "644" for p in shipped.iterdir())


def test_a_busy_model_gives_a_clear_error_not_a_hang(trained, monkeypatch):
    import analysis.extract.live as live
    monkeypatch.setattr(live, "WAIT_SECONDS", 0.1)
    model = live.LiveModel(load_checkpoint(trained))
    with model.lock, pytest.raises(live.ModelBusy, match="busy with other requests"):
        model.infer(["sentiment sentence: fine"], ["sentiment"])


def test_input_conditioned_models_evaluate_unseen_tasks_and_task_conditioned_ones_say_why_not(trained, tmp_path):
    from analysis.model.backbone import load_backbone
    from analysis.model.hyperlens import HyperLensModel
    from analysis.train.evaluate import evaluate
    result = evaluate(load_checkpoint(trained), ["nli"], max_examples=4)  # trained on sentiment and topic only
    assert set(result["tasks"]) == {"nli"} and 0 <= result["average"] <= 100
    hyperformer = HyperLensModel.build(load_backbone("tiny-bert2bert"), "hyperformer", ["sentiment", "topic"],
                                       {"reduction_factor": 8, "task_embedding_dim": 8, "projector_hidden": 8})
    with pytest.raises(ValueError, match="hyperformer conditions on the task, so it runs only the tasks it was trained on"):
        hyperformer.task_ids(["nli"])


def test_free_text_tasks_decode_with_beams_and_a_minimum_length(trained, capsys):
    from analysis.train.evaluate import evaluate
    result = evaluate(load_checkpoint(trained), ["headline", "sentiment"], max_examples=3,
                      text_generation={"num_beams": 2, "min_new_tokens": 3})
    assert set(result["tasks"]["headline"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    assert main(["evaluate", str(trained), "--tasks", "headline", "--max-examples", "2", "--num-beams", "2",
                 "--output", str(trained.parent / "beams.json")]) == 0


def test_map_colours_say_right_and_wrong_and_keep_neighbours_apart():
    import numpy as np
    import pandas as pd

    from app.services.figures import PALETTE, categories, color_groups
    cats = categories(pd.Series([True, False, None, True]))
    colours = {name.split(" (")[0]: colour for name, _, colour in color_groups(cats, np.ones(4, bool))}
    assert colours == {"correct": "#1b9e77", "incorrect": "#d95f02", "(no prediction)": "#bdbdbd"}
    assert len(set(PALETTE)) == len(PALETTE) and "#888888" not in PALETTE


# --- a second probe (117 cases): the 20 it found ---

def cli(*args) -> list[str]:
    return ["train", "--method", "adapter", "--backbone", "tiny-bert2bert", "--tasks", "sentiment", "--steps", "2",
            "--eval-every", "1", "--batch-size", "4", "--max-train-examples", "20", "--eval-examples", "4",
            "--config", '{"adapter_dim": 4}', *args]


@pytest.mark.parametrize("config,message", [
    ("not json", "no file not json .give a JSON object"), ("{1: 2}", "neither a JSON object nor a file"),
    ("[1, 2]", "must be a JSON object"),
    ('{"activation": "nope"}', "activation .* must be one of"), ('{"adapter_dim": 100000000}', "would not fit"),
    ('{"adapter_dim": NaN}', "should be an integer"), ('{"norm_input": "no"}', "should be true or false")])
def test_bad_method_options_get_one_line(capsys, tmp_path, config, message):
    args = cli("--output", str(tmp_path / "x"))
    args[args.index("--config") + 1] = config
    assert main(args) == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("weights,message", [(["sentiment=inf"], "positive finite"),
                                             (["sentiment=1", "sentiment=5"], "more than once")])
def test_bad_task_weights_are_refused_before_training(capsys, tmp_path, weights, message):
    with pytest.raises(SystemExit) if "inf" in weights[0] else contextlib.nullcontext():
        assert main(cli("--output", str(tmp_path / "x"), "--task-weights", *weights)) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_a_file_at_the_output_is_refused_or_replaced_with_the_flag(tmp_path):
    out = tmp_path / "afile"
    out.write_text("keep me")
    assert main(cli("--output", str(out))) == 2 and out.read_text() == "keep me"
    assert main(cli("--output", str(out), "--overwrite")) == 0
    assert (out / "metrics.json").exists() and not list(tmp_path.glob(".afile.*"))


def test_a_resume_state_from_other_settings_or_past_the_end_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    cfg = TrainConfig(**TINY, steps=4, eval_every=2)
    with pytest.raises(KeyboardInterrupt):  # interrupted after its first saved state
        import analysis.train.loop as T
        real = T.save_state
        try:
            T.save_state = lambda *a: (real(*a), (_ for _ in ()).throw(KeyboardInterrupt()))
            train(cfg, out, progress=False)
        finally:
            T.save_state = real
    for other, message in [(dataclasses.replace(cfg, method="adapter", method_config={}), "method, method_config differ"),
                           (dataclasses.replace(cfg, tasks=["sentiment", "qa"]), "tasks differ"),
                           (dataclasses.replace(cfg, lr=1e-5), "lr differ")]:
        with pytest.raises(TrainingError, match=message):
            train(other, out, progress=False)
    with pytest.raises(TrainingError, match="settings"):  # --steps 2: the state is at step 2 already
        train(dataclasses.replace(cfg, steps=2), out, progress=False)
    train(dataclasses.replace(cfg, lr=1e-5), out, progress=False, overwrite=True)  # afresh: no resume, a new log
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 1 and all(r["lr"] <= 1e-5 for r in log)


def test_every_validation_row_is_checked_before_step_one(tmp_path):
    data = tmp_path / "data" / "sst2"
    data.mkdir(parents=True)
    rows = [{"sentence": f"text {i}", "label": i % 2} for i in range(8)]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows[5]["sentence"] = "  "
    (data / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match="validation.jsonl, line 6: field 'sentence' is empty"):
        train(TrainConfig(**{**TINY, "tasks": ["sst2"]}, steps=2, eval_every=1, data_dir=str(tmp_path / "data")),
              tmp_path / "out", progress=False)
    assert not (tmp_path / "out.state").exists() and not (tmp_path / "out").exists()


def test_custom_tasks_with_a_blank_name_or_a_huge_cell_get_a_message(tmp_path):
    with pytest.raises(ValueError, match="bad custom task"):
        parse_custom_task(" =data.csv:text,label")
    f = tmp_path / "huge.csv"
    f.write_text("text,label\n" + "x" * 200_000 + ",1\n")
    with pytest.raises(DataError, match="huge.csv, line 2: field larger than field limit"):
        parse_custom_task(f"c={f}:text,label").load("train")


def test_evaluate_on_a_subset_keeps_the_checkpoints_metrics(trained, tmp_path, capsys):
    before = (trained / "metrics.json").read_text()
    assert main(["evaluate", str(trained), "--max-examples", "2"]) == 0
    assert "not saved" in capsys.readouterr().out and (trained / "metrics.json").read_text() == before
    assert main(["evaluate", str(trained), "--max-examples", "2", "--output", str(tmp_path / "m.json")]) == 0
    assert (tmp_path / "m.json").exists()


def test_cards_refuse_broken_checkpoints_and_missing_comparisons(trained, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    assert main(["card", str(tmp_path / "empty")]) == 2
    assert main(["card", str(trained), "--compare", str(tmp_path / "nowhere")]) == 2
    assert "nowhere is not a checkpoint directory" in capsys.readouterr().err
    unscored, weightless = tmp_path / "unscored", tmp_path / "weightless"
    for copy in (unscored, weightless):
        shutil.copytree(trained, copy)
    (unscored / "metrics.json").unlink(missing_ok=True)
    (weightless / "adapter_model.safetensors").unlink()
    for other, message in [(unscored, "unscored has no metrics.json"), (weightless, "is not a trained checkpoint")]:
        assert main(["card", str(trained), "--compare", str(other), "--overwrite"]) == 2  # not silently dropped
        assert message in capsys.readouterr().err
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00")
    assert main(["card", str(trained), "--findings", str(tmp_path / "binary.md"), "--overwrite"]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_an_extraction_rewritten_with_plain_lists_gets_a_message(trained, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.extract.reader import load_extraction
    from analysis.extract.writer import extract
    path = extract(load_checkpoint(trained), tmp_path / "ext", max_examples=2, max_new_tokens=2, progress=False)
    table = pq.read_table(path)
    plain = pa.array(table.column("embedding").to_pylist(), pa.list_(pa.float32()))
    pq.write_table(table.set_column(table.schema.get_field_index("embedding"), "embedding", plain), path)
    with pytest.raises(ValueError, match="not a fixed-size vector.*extract --overwrite"):
        load_extraction(path)


# --- work kept: derived files are replaced only with a flag, and never from another run's pieces ---

def test_extract_keeps_an_existing_extraction_and_a_replaced_one_takes_its_stale_report_along(trained, tmp_path,
                                                                                               capsys):
    ckpt = copy_checkpoint(trained, tmp_path / "c")
    assert main(["extract", str(ckpt), "--max-examples", "2", "--no-predictions"]) == 0
    first = (ckpt / "extraction" / "validation.parquet").read_bytes()
    (ckpt / "extraction" / "report.json").write_text("{}")
    assert main(["extract", str(ckpt), "--max-examples", "1", "--no-predictions"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (ckpt / "extraction" / "validation.parquet").read_bytes() == first
    (ckpt / "extraction" / "report.json").write_text('{"split": "test"}')  # of another split: kept
    assert main(["extract", str(ckpt), "--max-examples", "1", "--no-predictions", "--overwrite"]) == 0
    assert (ckpt / "extraction" / "report.json").exists()
    (ckpt / "extraction" / "report.json").write_text('{"split": "validation"}')
    assert main(["extract", str(ckpt), "--max-examples", "1", "--no-predictions", "--overwrite"]) == 0
    assert json.loads((ckpt / "extraction" / "validation.json").read_text())["n"] == 2  # one per task
    assert not (ckpt / "extraction" / "report.json").exists()


def test_extract_never_merges_shards_of_another_run_and_a_failed_one_leaves_no_empty_folder(trained, tmp_path,
                                                                                           monkeypatch):
    import shutil

    import pyarrow.parquet as pq

    import analysis.extract.writer as W
    model = load_checkpoint(trained)
    other = W.extract(model, tmp_path / "other", tasks=["sentiment"], max_examples=3, predictions=False, progress=False)
    (tmp_path / "ext" / "validation.parts").mkdir(parents=True)
    shutil.copy(other, tmp_path / "ext" / "validation.parts" / "part-00000.parquet")  # an interrupted other run's
    rows = pq.read_table(W.extract(model, tmp_path / "ext", tasks=["topic"], max_examples=2, predictions=False,
                                   progress=False)).to_pandas()
    assert rows.task.tolist() == ["topic", "topic"]

    def fail(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(W, "batch_vectors", fail)
    with pytest.raises(RuntimeError):
        W.extract(model, tmp_path / "failed", max_examples=2, predictions=False, progress=False)
    assert not (tmp_path / "failed" / "validation.parts").exists()


@pytest.mark.parametrize("option", [["--max-source-length", "16"], ["--num-beams", "2"], ["--max-target-length", "2"],
                                    ["--tasks", "sentiment"], ["--data-dir", "tests"]])
def test_evaluate_scored_otherwise_than_train_keeps_the_checkpoints_metrics(trained, capsys, option):
    before = (trained / "metrics.json").read_text()
    assert main(["evaluate", str(trained), *option]) == 0
    assert f"not saved: scored otherwise than train scored this checkpoint ({option[0]})" in capsys.readouterr().out
    assert (trained / "metrics.json").read_text() == before


def test_evaluate_and_extract_refuse_a_custom_task_named_like_a_known_one(trained, tmp_path, capsys):
    data = tmp_path / "mine.csv"
    data.write_text("text,label\n" + "good,positive\n" * 20)
    for command in (["evaluate"], ["extract", "--overwrite"]):
        assert main([*command, str(trained), "--tasks", "sentiment", f"sentiment={data}:text,label"]) == 2
        assert "is a known task's name" in capsys.readouterr().err


def test_a_data_dir_is_never_silently_ignored_for_a_built_in_task(trained, tmp_path, capsys):
    (tmp_path / "data" / "sentiment").mkdir(parents=True)
    (tmp_path / "data" / "sentiment" / "validation.jsonl").write_text('{"text": "x", "label": 7}\n')
    assert main(["evaluate", str(trained), "--tasks", "sentiment", "--data-dir", str(tmp_path / "data")]) == 2
    assert "is built in and generates its data" in capsys.readouterr().err
    assert main(["evaluate", str(trained), "--tasks", "sentiment", "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_card_and_export_replace_existing_files_only_with_the_flag(trained, tmp_path, capsys):
    from analysis.extract.writer import extract
    ckpt = copy_checkpoint(trained, tmp_path / "c")
    for name in ("metrics.json", "training_log.jsonl"):
        (ckpt / name).write_text((trained / name).read_text())
    (ckpt / "MODEL_CARD.md").write_text("my notes")
    assert main(["card", str(ckpt)]) == 2 and (ckpt / "MODEL_CARD.md").read_text() == "my notes"
    assert main(["card", str(ckpt), "--overwrite"]) == 0 and "my notes" not in (ckpt / "MODEL_CARD.md").read_text()
    assert "Trained on " in (ckpt / "MODEL_CARD.md").read_text()  # the machine, and why a rebuild elsewhere differs
    extract(load_checkpoint(ckpt), ckpt / "extraction", max_examples=1, predictions=False, progress=False)
    target = ckpt / "extraction" / "validation"  # --out is a stem: this would replace the extraction itself
    before = (ckpt / "extraction" / "validation.parquet").read_bytes()
    assert main(["export", str(ckpt), "--format", "parquet", "--out", str(target), "--overwrite"]) == 2
    assert "would replace the extraction itself" in capsys.readouterr().err
    assert (ckpt / "extraction" / "validation.parquet").read_bytes() == before


def test_a_damaged_checkpoint_keeps_its_row_in_the_ranking_and_says_why(trained, tmp_path):
    from analysis.layout import training_seconds
    from app.services.catalog import ranking
    good, bad = copy_checkpoint(trained, tmp_path / "good"), copy_checkpoint(trained, tmp_path / "bad")
    (good / "metrics.json").write_text((trained / "metrics.json").read_text())
    (good / "training_log.jsonl").write_text((trained / "training_log.jsonl").read_text() + '{"step": 3, "seco')
    (bad / "metrics.json").write_text('{"average": 50, "tasks": {"topic": {"accuracy": "high"}}}')
    cut = copy_checkpoint(trained, tmp_path / "cut")
    (cut / "metrics.json").write_text('{"average": 5')
    table = ranking({"good": good, "bad": bad, "cut": cut}).set_index("checkpoint")
    assert table.loc["good", "average"] == json.loads((trained / "metrics.json").read_text())["average"]
    assert "unexpected content in metrics.json" in table.loc["bad", "note"]
    assert table.loc["cut", "note"] == "metrics.json is not valid JSON" and pd.isna(table.loc["good", "note"])
    assert training_seconds(good) == training_seconds(trained)  # a line still being written is skipped
    assert list(table.columns[:4]) == ["method", "adapts per", "tasks", "average"]
    assert table.index[0] == "good"  # scored on its tasks, ahead of rows with none readable


def test_the_ranking_counts_each_checkpoints_tasks_and_keeps_task_columns_together(trained, tmp_path):
    from app.services.catalog import ranking
    one, two = copy_checkpoint(trained, tmp_path / "one"), copy_checkpoint(trained, tmp_path / "two")
    (one / "metrics.json").write_text('{"average": 90, "tasks": {"mine": {"accuracy": 90}}}')
    (two / "metrics.json").write_text('{"average": 60, "tasks": {"nli": {"accuracy": 50}, "topic": {"accuracy": 70}}}')
    table = ranking({"one": one, "two": two})
    assert table["checkpoint"].tolist() == ["two", "one"]  # more tasks first: 90 on one task is not better than 60 on two
    assert table["tasks"].tolist() == [2, 1]
    columns = table.columns.tolist()
    assert columns[columns.index("average") + 1:columns.index("task kNN")] == ["mine", "nli", "topic"]
    (one / "metrics.json").write_text('{"average": 90, "tasks": {"tasks": {"accuracy": 90}}}')  # a task named "tasks"
    table = ranking({"one": one}).set_index("checkpoint")
    assert (table.loc["one", "tasks"], table.loc["one", "tasks (task)"]) == (1, 90)


def test_the_train_page_lists_a_built_in_tasks_folder_as_unread(tmp_path):
    from app.services.local_data import find_tasks
    (tmp_path / "sentiment").mkdir()
    (tmp_path / "sentiment" / "train.jsonl").write_text('{"text": "x", "label": 1}\n')
    [row] = find_tasks(str(tmp_path))
    assert row["task"] == "sentiment" and "generates its data" in row["problem"]


def test_a_damaged_map_cache_entry_is_refitted_not_used(tmp_path):
    import numpy as np

    from analysis.maps.projection import ProjectionSettings, _load_cached
    settings = ProjectionSettings(method="pca")
    np.save(tmp_path / "k.npy", np.zeros((2, 2), np.float32))
    (tmp_path / "k.json").write_text('{"n": 3}')
    assert _load_cached(tmp_path, "k", settings) is None  # no seconds
    (tmp_path / "k.json").write_text('{"n": 3, "seconds": 1.0}')
    assert _load_cached(tmp_path, "k", settings) is None  # 2 rows for 3 points
    (tmp_path / "k.json").write_text('{"n": 2, "seconds": 1.0}')
    assert _load_cached(tmp_path, "k", settings) is not None


def test_params_options_are_checked(capsys):
    with pytest.raises(SystemExit):
        main(["params", "--method", "adapter", "--backbone", "tiny-bert2bert", "--tasks", "0"])
    assert "must be between 1 and 1000, got 0" in capsys.readouterr().err
    assert main(["params", "--method", "adapter", "--backbone", "tiny-bert2bert", "--save"]) == 2
    assert "needs --checkpoint" in capsys.readouterr().err
    assert main(["params", "--method", "adapter", "--backbone", "tiny-bert2bert", "--overwrite"]) == 2
    assert "goes with --save" in capsys.readouterr().err


def test_params_save_keeps_a_params_json_that_says_something_else(trained, tmp_path, capsys):
    ckpt = copy_checkpoint(trained, tmp_path / "c")
    assert main(["params", "--checkpoint", str(ckpt), "--save"]) == 0
    written = (ckpt / "params.json").read_text()
    assert main(["params", "--checkpoint", str(ckpt), "--save"]) == 0
    assert "up to date" in capsys.readouterr().err
    (ckpt / "params.json").write_text('{"trainable": 1}')
    assert main(["params", "--checkpoint", str(ckpt), "--save"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (ckpt / "params.json").read_text() == '{"trainable": 1}'
    assert main(["params", "--checkpoint", str(ckpt), "--save", "--overwrite"]) == 0
    assert (ckpt / "params.json").read_text() == written


def test_evaluate_notes_a_trained_task_scored_on_other_data_with_its_learned_weights(trained, tmp_path, capsys,
                                                                                      monkeypatch):
    rows = "text,label\n" + "".join(f"{w} day {i},{lab}\n" for i in range(12) for w, lab in (("good", "yes"), ("bad", "no")))
    (tmp_path / "a.csv").write_text(rows)
    (tmp_path / "b.csv").write_text(rows.replace("day", "night"))
    (tmp_path / "elsewhere").mkdir()
    cfg = {**TINY, "method": "hyperformer", "tasks": [f"mine={tmp_path / 'a.csv'}:text,label", "topic"],
           "method_config": {"reduction_factor": 8, "task_embedding_dim": 8, "projector_hidden": 8}}
    run, out = tmp_path / "run", ["--output", str(tmp_path / "scores.json"), "--overwrite"]
    train(TrainConfig(**cfg, steps=2, eval_every=2), run, progress=False)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    for same in ([], ["--tasks", "mine=./a.csv:text,label", "topic"], ["--data-dir", "elsewhere"]):
        assert main(["evaluate", str(run), *same, *out]) == 0  # the same data: the file by another path; a
        assert "note:" not in capsys.readouterr().out         # --data-dir that neither task reads
    assert main(["evaluate", str(run), "--tasks", "mine=b.csv:text,label", "topic", *out]) == 0
    assert ("note: mine scored on other data than training read, with the task-specific weights hyperformer learned "
            "for that name") in capsys.readouterr().out
    assert main(["evaluate", str(trained), "--data-dir", str(tmp_path / "elsewhere"), *out]) == 0
    assert "note:" not in capsys.readouterr().out  # the hyperdecoder conditions on the input, not the task


# --- hand-edited or damaged files, and outputs in the way: one clear line each (a probe of 199 cases) ---

@pytest.mark.parametrize("edit, message", [
    (lambda c: {**c, "training": {**c["training"], "max_source_length": "abc"}}, "training.max_source_length"),
    (lambda c: {**c, "task_specs": "sentiment"}, "task_specs as a list"),
    (lambda c: {**c, "target_lengths": {"sentiment": -5}}, "target_lengths as positive"),
])
def test_a_hand_edited_config_names_its_bad_field(trained, tmp_path, edit, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(copy_checkpoint(trained, tmp_path / "c", edit=edit))


def test_whole_number_weights_are_refused(trained, tmp_path):
    import torch
    path = copy_checkpoint(trained, tmp_path / "c", tensors=lambda w: {k: v.to(torch.int64) for k, v in w.items()})
    with pytest.raises(CheckpointError, match="not floating point"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["no step", "torn optimizer"])
def test_a_damaged_resume_state_says_so_and_how_to_start_afresh(tmp_path, damage):
    import analysis.train.loop as T
    out, cfg = tmp_path / "r", TrainConfig(**TINY, steps=4, eval_every=2)
    real = T.save_state
    try:
        T.save_state = lambda *a: (real(*a), (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            train(cfg, out, progress=False)
    finally:
        T.save_state = real
    state = tmp_path / "r.state"
    if damage == "no step":
        (state / "trainer_state.json").write_text('{"best": {}}')
    else:
        (state / "optimizer.safetensors").write_bytes((state / "optimizer.safetensors").read_bytes()[:1000])
    with pytest.raises(TrainingError, match="damaged resume state .* --overwrite"):
        train(cfg, out, progress=False)


def test_a_file_in_the_logs_place_is_kept_and_a_torn_log_line_skipped(tmp_path):
    foreign = tmp_path / "r.log.jsonl"
    foreign.write_text("my notes\n")
    with pytest.raises(TrainingError, match="is not a training log"):
        train(TrainConfig(**TINY, steps=2, eval_every=2), tmp_path / "r", progress=False)
    assert foreign.read_text() == "my notes\n"
    record = '{"step": 1, "loss": 2.0, "seconds": 1}\n'
    foreign.write_text(record + "my own note\n" + record)  # records with a line of someone's own between them
    with pytest.raises(TrainingError, match="is not a training log"):
        train(TrainConfig(**TINY, steps=2, eval_every=2), tmp_path / "r", progress=False)
    foreign.write_text(record + '{"step": 2, "lo')  # an attempt killed mid-line
    train(TrainConfig(**TINY, steps=2, eval_every=2), tmp_path / "r", progress=False)
    assert [json.loads(line)["step"] for line in (tmp_path / "r" / "training_log.jsonl").read_text().splitlines()] == [1, 2]


def test_an_empty_or_incomplete_extraction_is_named_not_a_traceback(trained, tmp_path, capsys):
    import pyarrow.parquet as pq

    from analysis.extract.writer import extract
    ckpt = copy_checkpoint(trained, tmp_path / "c")
    extract(load_checkpoint(ckpt), ckpt / "extraction", max_examples=4, progress=False)
    parquet = ckpt / "extraction" / "validation.parquet"
    whole = pq.read_table(parquet)
    pq.write_table(whole.slice(0, 0), parquet)
    for command in (["report", str(ckpt)], ["export", str(ckpt)]):
        assert main(command) == 2 and "has no rows" in capsys.readouterr().err
    pq.write_table(whole.drop(["task"]), parquet)
    assert main(["report", str(ckpt)]) == 2 and "no column(s) task" in capsys.readouterr().err
    parquet.write_bytes(parquet.read_bytes()[:200])  # cut short: not a missing column but a damaged file
    assert main(["report", str(ckpt)]) == 2 and "truncated or damaged" in capsys.readouterr().err
    parquet.with_suffix(".json").unlink()
    assert main(["report", str(ckpt)]) == 2 and "validation.json is missing" in capsys.readouterr().err


def test_outputs_in_the_way_are_refused_before_any_work(trained, tmp_path, capsys):
    kept = tmp_path / "kept.json"
    kept.write_text('{"precious": 1}')
    (tmp_path / "afile").write_text("x")
    for output, message in [(kept, "already exists; pass --overwrite"), (tmp_path, "is a folder"),
                            (tmp_path / "afile" / "m.json", "afile is a file, not a folder")]:
        assert main(["evaluate", str(trained), "--output", str(output)]) == 2
        assert message in capsys.readouterr().err
    assert kept.read_text() == '{"precious": 1}'
    config = (trained / "config.json").read_text()
    assert main(["evaluate", str(trained), "--output", str(trained / "config.json"), "--overwrite"]) == 2
    assert "one of the checkpoint's own files" in capsys.readouterr().err
    assert (trained / "config.json").read_text() == config
    assert main(["train", "--backbone", "tiny-bert2bert", "--output", "."]) == 2
    assert "names no new directory" in capsys.readouterr().err


def test_the_last_resort_prints_one_line_and_memory_errors_say_what_to_lower(capsys, monkeypatch):
    assert main(["params", "--method", "hyperdecoder", "--backbone", "tiny-bert2bert", "--config",
                 '{"decoder_adapter_dim": 65536, "generator_hidden": 65536}']) == 2
    assert "not enough memory" in capsys.readouterr().err
    import analysis.model.params as P
    monkeypatch.setattr(P, "run", lambda a: {}["missing"])  # a bug: what no check foresaw
    assert main(["params"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: KeyError: 'missing'. This is unexpected") and "Traceback" not in err

    def long_message(a):
        raise ImportError("IMPORTANT: PLEASE READ THIS\n" + "advice\n" * 20)  # numpy's, when an import is interrupted
    monkeypatch.setattr(P, "run", long_message)
    assert main(["params"]) == 1 and capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("config, message", [({"reduction_factor": 60000}, "leaves adapters no width"),
                                             ({"temperature": 0}, "temperature .* must be above 0")])
def test_options_that_would_build_a_broken_method_are_refused(config, message):
    from analysis.model.backbone import load_backbone
    from analysis.model.hyperlens import HyperLensModel
    method = "pha" if "temperature" in config else "hyperformer"
    with pytest.raises(ValueError, match=message):
        HyperLensModel.build(load_backbone("tiny-bert2bert"), method, ["sentiment"], config)


def test_custom_data_with_duplicate_headers_or_non_finite_labels_is_refused(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("text,text,label\n" + "a,b,yes\n" * 4)
    with pytest.raises(DataError, match="'text' appear more than once"):
        get_task(f"mine={dup}:text,label").load("train")
    nan = tmp_path / "nan.jsonl"
    nan.write_text("".join(json.dumps({"text": f"t{i}", "y": [1.0, float("nan")][i % 2]}) + "\n" for i in range(6)))
    with pytest.raises(ValueError, match="holds nan"):
        get_task(f"mine={nan}:text,y").load("train")


def test_card_refuses_without_metrics_and_prints_non_finite_scores_as_n_a(trained, tmp_path, capsys):
    from analysis.maps.card import metric_table
    ckpt = copy_checkpoint(trained, tmp_path / "c")
    assert main(["card", str(ckpt)]) == 2 and "has no metrics.json" in capsys.readouterr().err
    table = metric_table({"c": {"tasks": {"sentiment": {"accuracy": float("nan")}}, "average": float("nan")}})
    assert "| sentiment | accuracy | n/a |" in table and "**n/a**" in table and "nan" not in table


def test_evaluate_ignores_a_stored_data_dir_that_no_task_reads(tmp_path, capsys):
    gone = tmp_path / "gone"
    gone.mkdir()
    out = tmp_path / "r"
    train(TrainConfig(**TINY, steps=2, eval_every=2, data_dir=str(gone)), out, progress=False)
    gone.rmdir()
    assert main(["evaluate", str(out), "--max-examples", "2", "--output", str(tmp_path / "m.json")]) == 0


def test_training_warns_when_validation_labels_never_occur_in_training(tmp_path, capsys):
    data = tmp_path / "mine"
    data.mkdir()
    (data / "train.csv").write_text("text,label\n" + "".join(f"t {i},{'yes' if i % 2 else 'no'}\n" for i in range(20)))
    (data / "validation.csv").write_text("text,label\n" + "".join(f"v {i},{'maybe' if i < 3 else 'yes'}\n" for i in range(6)))
    train(TrainConfig(**{**TINY, "tasks": [f"mine={data}:text,label"]}, steps=2, eval_every=2), tmp_path / "r",
          progress=False)
    assert ("warning: task mine: 3 of its 6 validation examples have a label that no training example has"
            in capsys.readouterr().out)


# --- a third probe (75 cases) ---

def test_a_split_is_a_plain_name_and_report_json_holds_only_the_validation_embedding(trained, capsys):
    config = (trained / "config.json").read_text()
    for command in ("extract", "report", "project", "evaluate"):
        with pytest.raises(SystemExit):  # argparse: one usage line, exit 2
            main([command, str(trained), "--split", "../config"])
        assert "expected a split name" in capsys.readouterr().err
    assert (trained / "config.json").read_text() == config
    for option in (["--split", "train"], ["--vector", "params.decoder.0"]):
        assert main(["report", str(trained), "--save", *option]) == 2
        assert "is printed only" in capsys.readouterr().err


def test_extract_checks_the_files_it_writes_last_before_replacing_anything(trained, capsys):
    parquet = trained / "extraction" / "validation.parquet"
    before = parquet.read_bytes() if parquet.exists() else None
    folder = trained / "extraction" / "validation.json"
    kept = folder.with_name("validation.json.kept")
    if folder.exists():
        folder.rename(kept)
    folder.mkdir(parents=True)
    try:
        assert main(["extract", str(trained), "--overwrite", "--max-examples", "3"]) == 2
        assert "validation.json is a folder" in capsys.readouterr().err
        assert (parquet.read_bytes() if parquet.exists() else None) == before
    finally:
        folder.rmdir()
        if kept.exists():
            kept.rename(folder)


def test_params_refuses_options_a_checkpoint_overrides_and_cards_name_a_damaged_params_json(trained, tmp_path, capsys):
    assert main(["params", "--checkpoint", str(trained), "--method", "adapter", "--tasks", "3"]) == 2
    assert "--method, --tasks would be ignored" in capsys.readouterr().err
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    (copy / "params.json").write_text('{"trainable": "many", "percent": "x"}')
    assert main(["card", str(copy), "--overwrite"]) == 2
    assert "params.json does not hold whole-number counts" in capsys.readouterr().err


def test_realdev_checks_every_argument_before_any_work(tmp_path, monkeypatch, capsys):
    from bench import realdev
    (tmp_path / "imdb").mkdir()  # data present, so the checks after it run
    (tmp_path / "done.json").write_text("{}")
    monkeypatch.setattr(realdev, "baseline", lambda *a: pytest.fail("work began before the arguments were checked"))
    for args, message in [(["--steps", "0"], "must be at least 1"), (["--methods", "nosuch"], "invalid choice"),
                          (["--throughput-steps", "-1"], "must be at least 0"),
                          (["--checkpoints", str(tmp_path / "none")], "is not a checkpoint directory"),
                          (["--json", str(tmp_path / "done.json")], "already exists; pass --overwrite")]:
        monkeypatch.setattr(sys, "argv", ["realdev.py", "--data-dir", str(tmp_path), *args])
        with pytest.raises(SystemExit) as stop:
            realdev.main()
        assert message in f"{stop.value.code} {capsys.readouterr().err}"


def test_baseline_refuses_a_task_given_twice_before_any_work(capsys):
    assert main(["baseline", "--tasks", "topic", "topic"]) == 2
    assert "given more than once" in capsys.readouterr().err
