"""The real pretrained MiniLM bert2bert backbone: new cross-attention trains, and a short
train -> evaluate -> reload run works end to end."""
import pytest
import torch

from analysis.backbone import load_backbone
from analysis.checkpoint import load_checkpoint
from analysis.evaluate import evaluate
from analysis.model import HyperLensModel
from analysis.params import parameter_report
from analysis.train import TrainConfig, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm():
    return load_backbone("minilm")


def test_warm_start_trains_its_new_cross_attention(minilm):
    assert minilm.d_model == 384 and minilm.n_layers == {"encoder": 6, "decoder": 6}
    assert any("crossattention" in n for n in minilm.new_params)
    model = HyperLensModel.build(minilm, "hyperdecoder", ["a", "b"])
    params = dict(model.backbone.named_parameters(remove_duplicate=False))
    assert all(params[n].requires_grad for n in minilm.new_params)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any("attention.self.query" in n and "crossattention" not in n for n in trainable)
    ids, mask = model.tokenize(["sentiment sentence: a fine film", "topic text: markets fell"])
    out = model(ids, mask, model.task_ids(["a", "b"]), model.tokenize_targets(["positive", "business"]))
    out.loss.backward()
    assert model.backbone.decoder.bert.encoder.layer[0].crossattention.self.query.weight.grad.abs().sum() > 0
    report = parameter_report(model)
    assert "cross-attention" in " ".join(report["groups"]) and "cross-attention" in " ".join(report["notes"])
    model.method.detach()


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
