"""Every method on every tiny backbone: forward/backward, exact gradient reach, save/load, conditioning."""
import json

import pytest
import torch
import torch.nn.functional as F

from analysis.model.backbone import load_backbone
from analysis.model.checkpoint import load_checkpoint, save_checkpoint
from analysis.model.hyperlens import HyperLensModel
from analysis.model.methods import REGISTRY, Site, build_method
from analysis.model.methods.base import GeneratedDecoderMethod
from analysis.model.methods.layers import AdapterWeights, LoraWeights, TaskGroups

TASKS = ["qa", "sentiment"]
FAMILIES = ["tiny-bert2bert", "tiny-t5", "tiny-bart"]
SMALL = {"adapter": {"adapter_dim": 8}, "hyperdecoder": {"encoder_adapter_dim": 8, "decoder_adapter_dim": 8,
                                                         "generator_hidden": 16},
         "pha": {"adapter_dim": 8}, "hyperformer": {"reduction_factor": 4}, "hyperloader": {"reduction_factor": 4},
         "task_adapters": {"reduction_factor": 4}}
CASES = [(f, m) for f in FAMILIES for m in sorted(REGISTRY)]
ADAPTS_PER = {kind: sorted(m for m, cls in REGISTRY.items() if cls.adapts_per == kind) for kind in ("input", "task")}
GENERATED_DECODERS = sorted(m for m, cls in REGISTRY.items() if issubclass(cls, GeneratedDecoderMethod))


def build(family, method, seed=0):
    torch.manual_seed(seed)
    return HyperLensModel.build(load_backbone(family), method, TASKS, SMALL.get(method))


def batch(model, sources, tasks=("sentiment", "qa"), targets=("negative", "1990")):
    ids, mask = model.tokenize(list(sources))
    return dict(input_ids=ids, attention_mask=mask, task_ids=model.task_ids(list(tasks)),
                labels=model.tokenize_targets(list(targets)))


def named(generated: dict) -> dict:
    """Generated tensors by name ("decoder.0.ffn_parallel.down"), each (batch, ...)."""
    return {f"{site.name}.{k}": v for site, w in generated.items() for k, v in w.tensors().items()}


def perturb(model, scale=0.05, seed=1):
    """Move trainable weights off their near-zero init so comparisons are not vacuous."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.trainable_state_dict().values():
            p.add_(torch.randn(p.shape, generator=g) * scale)


@pytest.mark.parametrize("family,method", CASES)
def test_forward_backward_reaches_exactly_the_trainable_parameters(family, method, tiny_inputs):
    model = build(family, method).train()
    out = model(**batch(model, tiny_inputs), label_smoothing=0.1)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    reached = {n for n, p in model.named_parameters() if p.grad is not None}
    assert trainable, "a method must train something"
    assert reached == trainable
    frozen_method = [n for n, p in model.method.named_parameters() if not p.requires_grad]
    assert not frozen_method
    if not REGISTRY[method].trains_whole_backbone:
        assert all(not p.requires_grad for n, p in model.backbone.named_parameters()
                   if "norm" not in n.lower() and "layer_norm" not in n)


@pytest.mark.parametrize("family,method", CASES)
def test_save_load_gives_identical_outputs(family, method, tiny_inputs, tmp_path):
    model = build(family, method)
    perturb(model)
    model.eval()
    b = batch(model, tiny_inputs)
    expected = model(**b).logits
    save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")  # rebuilds the backbone the checkpoint claims
    torch.testing.assert_close(loaded(**b).logits, expected, rtol=0, atol=0)


@pytest.mark.parametrize("method", GENERATED_DECODERS)
def test_instance_conditioned_methods_generate_distinct_parameters(method, tiny_inputs):
    model = build("tiny-bert2bert", method).eval()
    perturb(model)
    b = batch(model, tiny_inputs)
    state = model.conditioning(b["input_ids"], b["attention_mask"], b["task_ids"])
    gen = named(state.generated)
    assert gen and all(name.startswith("decoder.") for name in gen)
    for name, t in gen.items():
        assert t.shape[0] == 2
        assert not torch.allclose(t[0], t[1]), name
    assert state.embedding.shape[0] == 2 and not torch.allclose(state.embedding[0], state.embedding[1])
    if method == "pha":
        assert set(state.extras) == {"prototype", "prototype_id"}


def test_hyperdecoder_same_task_different_inputs_differ():
    model = build("tiny-bert2bert", "hyperdecoder").eval()
    perturb(model)
    b = batch(model, ["sentiment sentence: great", "sentiment sentence: awful and long"], tasks=("sentiment",) * 2)
    for t in named(model.conditioning(b["input_ids"], b["attention_mask"], b["task_ids"]).generated).values():
        assert not torch.allclose(t[0], t[1])


@pytest.mark.parametrize("method", ADAPTS_PER["task"])
def test_task_conditioned_methods_are_identical_within_a_task(method):
    model = build("tiny-t5", method).eval()
    perturb(model)
    b = batch(model, ["a b c", "completely different words here", "x"], tasks=("qa", "qa", "sentiment"),
              targets=("1", "2", "3"))
    gen = named(model.conditioning(b["input_ids"], b["attention_mask"], b["task_ids"]).generated)
    assert "decoder" in {n.split(".")[0] for n in gen}
    for name, t in gen.items():
        torch.testing.assert_close(t[0], t[1], rtol=0, atol=0)
        assert not torch.allclose(t[0], t[2]), name


@pytest.mark.parametrize("family", FAMILIES)
def test_a_training_forward_fills_no_kv_cache(family, tiny_inputs):
    """Teacher forcing needs no cache; filling one copies every layer's keys and values at each step."""
    model = build(family, "adapter").train()
    seen = []
    model.backbone.get_decoder().register_forward_pre_hook(lambda m, a, kw: seen.append(kw.get("use_cache")),
                                                           with_kwargs=True)
    model(**batch(model, tiny_inputs))
    assert seen == [False]


@pytest.mark.parametrize("method", ADAPTS_PER["input"] + ADAPTS_PER["task"])
def test_generate_runs_the_hypernetwork_once_per_input(method):
    """The modules of a conditioned method (hypernetwork, heads, per-task weights, encoder adapters) run as often for
    2 decoding steps as for 6: weights are generated once per input and call, never per decoding step. (LayerNorms
    that apply generated adapters run at every step.)"""
    model = build("tiny-bert2bert", method).eval()
    ids, mask = model.tokenize(["one input", "another input"])
    counts = []
    for steps in (2, 6):
        calls = {}
        hooks = [m.register_forward_hook(lambda *a, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
                 for name, m in model.method.named_modules() if name and not isinstance(m, torch.nn.LayerNorm)]
        out = model.generate(ids, mask, model.task_ids(["qa", "qa"]), max_new_tokens=steps, min_new_tokens=steps)
        assert out.shape[1] >= steps + 1
        counts.append(calls)
        for h in hooks:
            h.remove()
    assert counts[0] and counts[0] == counts[1]


def test_beam_search_expands_per_instance_weights():
    model = build("tiny-bert2bert", "hyperdecoder").eval()
    perturb(model)
    ids, mask = model.tokenize(["one input", "another input"])
    out = model.generate(ids, mask, model.task_ids(["qa", "qa"]), max_new_tokens=4, num_beams=3)
    assert out.shape[0] == 2


def test_batched_adapter_equals_per_instance_application():
    g = torch.Generator().manual_seed(0)
    B, T, d, a = 3, 5, 8, 4
    w = AdapterWeights(*(torch.randn(s, generator=g) for s in [(B, d, a), (B, a), (B, a, d), (B, d)]))
    x = torch.randn(B, T, d, generator=g)
    per_row = torch.stack([torch.relu(x[i] @ w.down[i] + w.down_bias[i]) @ w.up[i] + w.up_bias[i] for i in range(B)])
    torch.testing.assert_close(w(x, "relu"), per_row)


@pytest.mark.parametrize("sizes", [None, [3], [1, 2]], ids=["one set a row", "one group", "two groups"])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_lora_added_in_its_product_equals_the_plain_formula_with_the_same_gradients(sizes, layout):
    """A LoRA shared by the batch adds into `out` inside its second product, with B laid out (r, d_out) so that
    B's gradient is the fast skinny product: the values and every gradient are those of out + s * x A^T B^T."""
    g = torch.Generator().manual_seed(0)
    sets = len(sizes) if sizes else 3
    leaves = x, A, B, out = [torch.randn(s, generator=g, requires_grad=True)
                             for s in [(3, 5, 8), (sets, 2, 8), (sets, 6, 2), (3, 6, 5)]]
    target = out.transpose(1, 2) if layout == "strided" else out.reshape(3, 5, 6)
    lora = LoraWeights(A, B, 0.5)
    y = (TaskGroups(lora, sizes) if sizes else lora).added_to(target, x)
    per_row = torch.repeat_interleave(torch.arange(sets), torch.tensor(sizes)) if sizes else torch.arange(3)
    ref = target + 0.5 * torch.einsum("btd,brd,bor->bto", x, A[per_row], B[per_row])
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(torch.autograd.grad(y.square().sum(), leaves),
                               torch.autograd.grad(ref.square().sum(), leaves))


def test_lora_keeps_out_dtype_under_autocast():
    x, lora = torch.randn(3, 5, 8), LoraWeights(torch.randn(1, 2, 8), torch.randn(1, 6, 2), 0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert lora.added_to(torch.randn(3, 5, 6), x).dtype == torch.float32  # as out + delta would be
        assert lora.added_to(F.linear(x, torch.randn(6, 8)), x).dtype == torch.bfloat16


@pytest.mark.parametrize("groups", [1, 2])
def test_generated_adapters_keep_the_autocast_dtype(groups):
    """Under bf16 autocast a generated adapter (with its LayerNorm) returns bf16: an fp32 result would turn the
    residual stream after it into fp32."""
    w = AdapterWeights(*(torch.randn(s) for s in [(groups, 8, 4), (groups, 4), (groups, 4, 8), (groups, 8),
                                                   (groups, 8), (groups, 8)]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert w(torch.randn(2, 3, 8), "relu").dtype == torch.bfloat16


@pytest.mark.parametrize("tasks", [("qa",) * 3 + ("sentiment",), ("qa",) * 4, ("qa",) * 2 + ("sentiment",) * 2],
                         ids=["unequal groups", "one group", "equal groups"])
@pytest.mark.parametrize("method", ["hyperformer", "hyperloader", "task_adapters", "pha"])
def test_task_sorted_training_batches_apply_weights_per_group_with_the_same_result(method, tasks, tiny_inputs):
    """Training batches come sorted by task: each task's rows share one matmul (TaskGroups), no per-row copies;
    equal groups share one batched matmul, and a single-task batch a plain one."""
    model = build("tiny-bert2bert", method)
    perturb(model)
    for m in model.modules():  # train mode without dropout, so the two passes differ only in how weights apply
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    sources = [*tiny_inputs, "qa question: when? context: in 1990.", "sentiment sentence: a fine, warm film"]
    b = batch(model, sources, tasks=tasks, targets=("a", "b", "c", "d"))
    with torch.no_grad():
        grouped = model.train()(**b)
        gathered = model.eval()(**b)
    assert any(isinstance(w, TaskGroups) for w in grouped.state.generated.values())
    assert not any(isinstance(w, TaskGroups) for w in gathered.state.generated.values())
    torch.testing.assert_close(grouped.lm_loss, gathered.lm_loss)
    torch.testing.assert_close(grouped.logits, gathered.logits)


def test_adaptation_swap_changes_only_the_decoder_adapters():
    model = build("tiny-bert2bert", "hyperdecoder").eval()
    perturb(model, scale=0.5)
    ids, mask = model.tokenize(["first input text", "a second quite different input"])
    tids = model.task_ids(["qa", "qa"])
    state = model.conditioning(ids, mask, tids)
    swapped = {site: w.select(torch.tensor([1, 0])) for site, w in state.generated.items()}
    _, s2 = model.generate(ids, mask, tids, override=swapped, max_new_tokens=3, return_state=True)
    for site, w in s2.generated.items():
        torch.testing.assert_close(w.tensors()["down"][0], state.generated[site].tensors()["down"][1])
    torch.testing.assert_close(s2.embedding, state.embedding)  # the encoder side is untouched


def test_tasks_are_sorted_and_unknown_tasks_fail_clearly():
    model = HyperLensModel.build(load_backbone("tiny-t5"), "hyperformer", ["zeta", "alpha"], SMALL["hyperformer"])
    assert model.tasks == ["alpha", "zeta"]
    with pytest.raises(ValueError, match="runs only the tasks it was trained on"):
        model.task_ids(["gamma"])


def test_method_config_from_json_and_unknown_keys_rejected():
    bb = load_backbone("tiny-t5")
    m = build_method("hyperdecoder", '{"decoder_adapter_dim": 4}', bb, ["a"])
    assert m.config.decoder_adapter_dim == 4
    with pytest.raises(ValueError, match="unknown option"):
        build_method("hyperdecoder", {"adapter_dim": 4}, bb, ["a"])
    with pytest.raises(ValueError, match="unknown method"):
        build_method("nope", None, bb, ["a"])


def test_site_names_are_stable():
    assert Site("decoder", 3, "ffn_parallel").name == "decoder.3.ffn_parallel"


@pytest.mark.parametrize("family,kind", [("tiny-t5", "t5"), ("tiny-bart", "bart"), ("tiny-bert2bert", "bert")])
def test_backbones_load_from_a_local_path(family, kind, tmp_path):
    """The same loader serves hub names and local directories (save_pretrained layout)."""
    bb = load_backbone(family)
    bb.model.save_pretrained(tmp_path)
    bb.tokenizer.save_pretrained(tmp_path)
    loaded = load_backbone(str(tmp_path))
    assert loaded.family.name == kind and loaded.n_layers == bb.n_layers and loaded.d_model == bb.d_model
    ids = bb.tokenizer(["hello there"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.get_encoder()(input_ids=ids).last_hidden_state,
                                   bb.model.get_encoder()(input_ids=ids).last_hidden_state)
    model = HyperLensModel.build(loaded, "hyperdecoder", TASKS, SMALL["hyperdecoder"])
    ids, mask = model.tokenize(["qa question: who? context: ana."])
    assert model.generate(ids, mask, model.task_ids(["qa"]), max_new_tokens=3).shape[1] > 1


def test_unloadable_backbone_gives_an_actionable_error(tmp_path):
    from analysis.model.backbone import BackboneError
    with pytest.raises(BackboneError, match="offline, use 'minilm'"):
        load_backbone("no-such-org/no-such-model")
    with pytest.raises(BackboneError, match="local directory"):
        load_backbone(str(tmp_path))


@pytest.mark.parametrize("method", ["lora", "hyperloader"])
def test_lora_fits_attention_wider_than_the_model(method, tiny_inputs):
    """T5-3B and T5-11B have heads x d_kv != d_model: here 4 x 16 = 64 against d_model 32."""
    model = build("tiny-t5-wide-heads", method).train()
    assert model.method.d_attn == 64 and model.method.d == 32
    out = model(**batch(model, tiny_inputs))
    out.loss.backward()
    assert torch.isfinite(out.loss) and all(p.grad is not None for p in model.method.parameters())


@pytest.mark.parametrize("method", ["hyperformer", "hyperloader"])
def test_post_ln_backbones_get_gated_serial_adapters_recorded_and_checked_on_load(method, tmp_path):
    from analysis.model.checkpoint import CheckpointError
    post, pre = build("tiny-bert2bert", method), build("tiny-t5", method)
    assert post.method.config.serial_adapters == "gated" and pre.method.config.serial_adapters == "paper"
    assert any(n.startswith("method.gates") for n in post.trainable_state_dict())
    perturb(post)
    path = save_checkpoint(post, tmp_path / "ckpt", metrics={"average": 1.0})
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["method_config"]["serial_adapters"] == "gated"
    assert load_checkpoint(path).method.config.serial_adapters == "gated"
    cfg["method_config"]["serial_adapters"] = "paper"  # a config that disagrees with the saved weights
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unexpected tensors.*gates"):
        load_checkpoint(path)
    explicit = HyperLensModel.build(load_backbone("tiny-bert2bert"), method, TASKS,
                                    {**SMALL[method], "serial_adapters": "paper"})
    assert not any("gates" in n for n in explicit.trainable_state_dict())  # the paper's form stays available
    with pytest.raises(ValueError, match="serial_adapters must be one of"):
        HyperLensModel.build(load_backbone("tiny-bert2bert"), method, TASKS, {"serial_adapters": "gate"})

def test_pha_encoder_width_defaults_to_the_paper_single_width_and_is_recorded(tmp_path):
    paper = build("tiny-bert2bert", "pha")
    assert paper.method.config.encoder_adapter_dim == 8 and paper.method.encoder_adapters[0].down.out_features == 8
    torch.manual_seed(0)
    split = HyperLensModel.build(load_backbone("tiny-bert2bert"), "pha", TASKS,
                                 {"adapter_dim": 4, "encoder_adapter_dim": 12})
    assert split.method.encoder_adapters[0].down.out_features == 12 and split.method.heads.a == 4
    perturb(split)
    path = save_checkpoint(split, tmp_path / "ckpt", metrics={"average": 1.0})
    assert json.loads((path / "config.json").read_text())["method_config"]["encoder_adapter_dim"] == 12
    loaded = load_checkpoint(path)
    b = batch(split, ["sentiment sentence: great", "qa question: when?"])
    with torch.no_grad():
        assert torch.allclose(split.eval()(**b).logits, loaded.eval()(**b).logits, atol=1e-5)


def test_a_pha_checkpoint_saved_before_encoder_adapter_dim_loads_with_one_width(tmp_path):
    model = build("tiny-bert2bert", "pha")
    perturb(model)
    path = save_checkpoint(model, tmp_path / "ckpt", metrics={"average": 1.0})
    cfg = json.loads((path / "config.json").read_text())
    del cfg["method_config"]["encoder_adapter_dim"]  # as written by the release before the option existed
    (path / "config.json").write_text(json.dumps(cfg))
    loaded = load_checkpoint(path)
    assert loaded.method.config.encoder_adapter_dim == loaded.method.config.adapter_dim == 8
    b = batch(model, ["sentiment sentence: great", "qa question: when?"])
    with torch.no_grad():
        assert torch.allclose(model.eval()(**b).logits, loaded.eval()(**b).logits, atol=1e-5)



def test_the_app_lists_the_registered_methods_without_importing_them():
    from app.services.catalog import method_names
    assert method_names() == sorted(REGISTRY)
