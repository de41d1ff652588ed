"""The real pretrained MiniLM bert2bert backbone: the warm start's copied cross-attention trains, and a short
train -> evaluate -> reload run works end to end."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.model.backbone import load_backbone
from analysis.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from analysis.model.hyperlens import HyperLensModel
from analysis.model.params import parameter_report
from analysis.train.evaluate import evaluate
from analysis.train.loop import TrainConfig, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm():
    return load_backbone("minilm")


def test_warm_start_copies_self_attention_into_a_cross_attention_that_trains(minilm):
    assert minilm.d_model == 384 and minilm.n_layers == {"encoder": 6, "decoder": 6}
    layer = minilm.model.decoder.bert.encoder.layer[0]
    for name, p in layer.attention.named_parameters():
        torch.testing.assert_close(layer.crossattention.get_parameter(name), p, rtol=0, atol=0)
    model = HyperLensModel.build(minilm, "hyperdecoder", ["a", "b"])
    params = dict(model.backbone.named_parameters(remove_duplicate=False))
    assert all(params[n].requires_grad for n in minilm.new_params)
    cross = {n for n in params if ".crossattention." in n}
    assert cross and cross <= set(minilm.new_params)  # every cross-attention weight trains
    assert not any(params[n].requires_grad for n in params if ".attention." in n and ".crossattention." not in n)
    ids, mask = model.tokenize(["sentiment sentence: a fine film", "topic text: markets fell"])
    model(ids, mask, model.task_ids(["a", "b"]), model.tokenize_targets(["positive", "business"])).loss.backward()
    assert layer.crossattention.self.query.weight.grad.abs().sum() > 0
    assert layer.attention.self.query.weight.grad is None
    report = parameter_report(model)
    assert report["groups"]["backbone (new in warm start: cross-attention, LM-head transform)"] > 3_500_000
    model.method.detach()


def test_checkpoint_of_another_warm_start_is_refused(tmp_path, minilm):
    model = HyperLensModel.build(minilm, "adapter", ["a"], {"adapter_dim": 4})
    save_checkpoint(model, tmp_path / "ck")
    model.method.detach()
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    del config["backbone"]["warm_start"]  # as written before the warm start changed
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="different warm start.*Retrain"):
        load_checkpoint(tmp_path / "ck", backbone=minilm)


def test_train_evaluate_reload(tmp_path):
    cfg = TrainConfig(method="hyperdecoder", tasks=["sentiment", "topic"], steps=3, batch_size=4, eval_every=3,
                      eval_examples=4, max_train_examples=20, max_target_length=4,
                      method_config={"decoder_adapter_dim": 8, "generator_hidden": 16})
    result = train(cfg, tmp_path / "run", progress=False)
    assert set(result["tasks"]) == {"sentiment", "topic"} and 0 <= result["average"] <= 100
    model = load_checkpoint(tmp_path / "run")
    again = evaluate(model, max_examples=8, max_new_tokens=4)
    first = evaluate(load_checkpoint(tmp_path / "run"), max_examples=8, max_new_tokens=4)
    assert again == first
    ids, mask = model.tokenize(["sentiment sentence: not bad at all"])
    with torch.no_grad():
        s1 = model.conditioning(ids, mask, model.task_ids(["sentiment"])).embedding
        s2 = load_checkpoint(tmp_path / "run").conditioning(ids, mask, model.task_ids(["sentiment"])).embedding
    torch.testing.assert_close(s1, s2, rtol=0, atol=0)


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "checkpoints").glob("*-builtin"))


@pytest.mark.parametrize("ckpt", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_checkpoint_loads_and_opens_every_map_at_once(ckpt, minilm):
    from analysis.extract.reader import load_extraction
    from analysis.layout import projection_cache
    from analysis.maps.projection import DEFAULT_MAP, ProjectionSettings, cached

    model = load_checkpoint(ckpt, backbone=minilm)
    assert "auto" not in json.dumps(model.config["method_config"])  # the variant used is recorded
    model.method.detach()
    ext = load_extraction(ckpt)
    assert len(ext.meta) == 1750 and ext.embedding.dtype == np.float32
    assert json.loads((ckpt / "extraction" / "report.json").read_text())["n"] == 1750
    for settings in (DEFAULT_MAP, ProjectionSettings(n_components=3), ProjectionSettings(method="tsne")):
        assert cached(ext.embedding, settings, [projection_cache(ckpt)]) is not None, settings
