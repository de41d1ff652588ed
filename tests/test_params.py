"""Parameter counts published by the papers, reproduced on meta-device presets."""
import pytest

from analysis.__main__ import main
from analysis.model.backbone import load_backbone
from analysis.model.params import count


@pytest.mark.parametrize("preset,total", [("t5-v1_1-large", 783_150_080), ("t5-v1_1-base", 247_577_856),
                                          ("t5-base", 222_903_552), ("t5-small", 60_506_624)])
def test_preset_backbone_sizes(preset, total):
    assert load_backbone(preset, meta=True).n_params == total


def test_hyperdecoder_glue_large():
    r = count("hyperdecoder", "t5-v1_1-large")
    assert r["trainable"] == 22_452_400
    assert round(r["percent"], 2) == 2.87
    assert r["groups"] == {"method.encoder_adapters": 3_171_840, "method.mlp": 2_099_200,
                           "method.generator": 17_181_360}


def test_hyperformer_plus_plus_t5_base():
    r = count("hyperformer", "t5-base")
    assert r["trainable"] == 5_211_056
    assert round(r["percent_per_task"], 2) == 0.29
    assert r["groups"]["backbone layer norms"] == 47_616


@pytest.mark.parametrize("method,backbone,tasks,total", [
    ("pha", "t5-base", 8, 7_766_336), ("hyperloader", "t5-base", 7, 6_784_368),
    ("hyperformer", "t5-base", 7, 5_210_992), ("adapter", "t5-v1_1-large", 8, 22_670_112)])
def test_other_published_counts(method, backbone, tasks, total):
    assert count(method, backbone, tasks)["trainable"] == total


def test_defaults_need_no_options(capsys):
    assert main(["params", "--method", "hyperdecoder"]) == 0
    out = capsys.readouterr().out
    assert "22,452,400" in out and "2.87%" in out and "t5-v1_1-large" in out
