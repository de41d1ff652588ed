"""Extraction columns, batch invariance, encoder-only path, resumability; report and swap on top of it."""
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from analysis.__main__ import main
from analysis.extract import writer as X
from analysis.extract.live import LiveModel
from analysis.extract.reader import META_COLUMNS, load_extraction
from analysis.extract.vectors import layer_vectors
from analysis.extract.writer import extract
from analysis.model.backbone import load_backbone
from analysis.model.checkpoint import save_checkpoint
from analysis.model.hyperlens import HyperLensModel
from analysis.model.methods import ForwardState, Site
from analysis.model.methods.layers import AdapterWeights, GeneratedAdapter

TASKS = ["qa", "sentiment", "topic"]


def tiny(method="hyperdecoder", config=None):
    torch.manual_seed(0)
    model = HyperLensModel.build(load_backbone("tiny-bert2bert"), method, TASKS, config or (
        {"encoder_adapter_dim": 4, "decoder_adapter_dim": 4, "generator_hidden": 8} if method == "hyperdecoder" else None))
    with torch.no_grad():
        for p in model.trainable_state_dict().values():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_columns_and_shapes(tmp_path):
    path = extract(tiny(), tmp_path, max_examples=6, batch_size=4, max_new_tokens=4, progress=False)
    df = pq.read_table(path).to_pandas()
    assert list(df.columns[:10]) == META_COLUMNS
    assert len(df) == 18 and df["row"].tolist() == list(range(18)) and df["id"].is_unique
    assert sorted(df["task"].unique()) == TASKS
    assert set(df["output_type"]) == {"span", "label"}
    assert df.loc[df.task == "sentiment", "label"].isin(["positive", "negative"]).all()
    assert df.loc[df.task == "qa", "label"].isna().all()
    assert df["prediction"].notna().all() and df["correct"].isin([True, False]).all()
    assert {"params.decoder.0", "params.decoder.1", "norm.decoder.0", "norm.decoder.1", "embedding"} <= set(df.columns)
    assert not any(c.startswith("params.encoder") for c in df.columns)  # hyperdecoder generates decoder adapters only
    info = json.loads(path.with_suffix(".json").read_text())
    assert info["n"] == 18 and info["embedding_dim"] == 32 and info["method"] == "hyperdecoder"
    ext = load_extraction(path)
    assert ext.embedding.shape == (18, 32) and ext.vectors("params.decoder.1").shape[0] == 18
    assert (ext.norms()["norm.decoder.0"] > 0).all()


def test_batching_does_not_change_results(tmp_path):
    model = tiny()
    kw = dict(max_examples=5, max_new_tokens=4, progress=False, vector_dtype="float32")
    one = pq.read_table(extract(model, tmp_path / "b1", batch_size=1, **kw)).to_pandas()
    many = pq.read_table(extract(model, tmp_path / "b7", batch_size=7, **kw)).to_pandas()
    pd.testing.assert_frame_equal(one[META_COLUMNS], many[META_COLUMNS])
    for col in [c for c in one.columns if c.startswith(("embedding", "params.", "norm."))]:
        np.testing.assert_allclose(np.stack(one[col]) if one[col].dtype == object else one[col],
                                   np.stack(many[col]) if many[col].dtype == object else many[col], atol=1e-5)


def test_vectors_are_stored_in_float16_and_read_back_as_float32(tmp_path):
    model = tiny()
    half = load_extraction(extract(model, tmp_path / "h", max_examples=4, max_new_tokens=2, progress=False))
    full = load_extraction(extract(model, tmp_path / "f", max_examples=4, max_new_tokens=2, progress=False,
                                   vector_dtype="float32"))
    assert half.info["vector_dtype"] == "float16" and pq.read_schema(half.path).field("embedding").type.value_type == pa.float16()
    for col in ["embedding", *full.param_columns]:
        assert half.vectors(col).dtype == np.float32
        np.testing.assert_allclose(half.vectors(col), full.vectors(col), rtol=2e-3, atol=1e-4)


def test_a_damaged_vector_column_is_refused(tmp_path):
    path = extract(tiny(), tmp_path / "d", max_examples=2, max_new_tokens=2, progress=False, vector_dtype="float32")
    table = pq.read_table(path)
    emb = np.stack(table.column("embedding").to_pylist()).astype(np.float32)
    emb[0, 0] = np.nan
    arr = pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), emb.shape[1])
    pq.write_table(table.set_column(table.schema.get_field_index("embedding"), "embedding", arr), path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        load_extraction(path)


@pytest.mark.parametrize("dims", [8, 4096])  # sketched, and stored whole
def test_head_generated_weights_are_sketched_without_building_them(dims):
    model = tiny()
    ids, mask = model.tokenize(["a short input", "another, rather longer input text"])
    state = model.conditioning(ids, mask, model.task_ids(["qa", "topic"]))
    assert all(isinstance(w, GeneratedAdapter) for w in state.generated.values())
    fast = layer_vectors(state, dims)
    assert all(w._weights is None for w in state.generated.values())  # nothing materialised
    state.generated = {site: w.weights for site, w in state.generated.items()}
    built = layer_vectors(state, dims)
    for got, want in zip(fast, built):
        assert got.keys() == want.keys()
        for layer in want:
            np.testing.assert_allclose(got[layer], want[layer], rtol=1e-4, atol=1e-6)


def test_embeddings_need_only_the_encoder(tmp_path):
    model = tiny()
    calls = []
    model.backbone.decoder.register_forward_hook(lambda *a: calls.append(1))
    df = pq.read_table(extract(model, tmp_path, max_examples=4, predictions=False, progress=False)).to_pandas()
    assert calls == [] and df["prediction"].isna().all() and df["correct"].isna().all()
    extract(model, tmp_path / "with", max_examples=2, predictions=True, max_new_tokens=2, progress=False)
    assert calls  # predictions do run the decoder


def test_extraction_resumes_from_finished_shards(tmp_path, monkeypatch):
    model = tiny()
    full = pq.read_table(extract(model, tmp_path / "full", max_examples=6, shard_size=6, predictions=False,
                                 progress=False)).to_pandas()
    real, seen = X.batch_vectors, []

    def crash_on_third_shard(*a, **k):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(X, "batch_vectors", crash_on_third_shard)
    with pytest.raises(KeyboardInterrupt):
        extract(model, tmp_path / "part", max_examples=6, shard_size=6, batch_size=6, predictions=False, progress=False)
    assert len(list((tmp_path / "part" / "validation.parts").glob("part-*.parquet"))) == 2
    seen.clear()
    monkeypatch.setattr(X, "batch_vectors", lambda *a, **k: (seen.append(1), real(*a, **k))[1])
    resumed = pq.read_table(extract(model, tmp_path / "part", max_examples=6, shard_size=6, batch_size=6,
                                    predictions=False, progress=False)).to_pandas()
    assert len(seen) == 1  # only the unfinished shard ran again
    pd.testing.assert_frame_equal(full[META_COLUMNS], resumed[META_COLUMNS])
    assert not (tmp_path / "part" / "validation.parts").exists()


def test_task_conditioned_and_plain_methods(tmp_path):
    hf = pq.read_table(extract(tiny("hyperformer", {"reduction_factor": 4}), tmp_path / "hf", max_examples=3,
                               predictions=False, progress=False)).to_pandas()
    assert any(c.startswith("params.encoder") for c in hf.columns)
    emb = np.stack(hf["embedding"])
    same_task = hf["task"].values == hf["task"].values[0]
    assert np.allclose(emb[same_task], emb[0])  # one adaptation per task
    plain = pq.read_table(extract(tiny("adapter", {"adapter_dim": 4}), tmp_path / "ad", max_examples=3,
                                  predictions=False, progress=False)).to_pandas()
    assert not any(c.startswith("params.") for c in plain.columns) and "embedding" in plain.columns


def test_sketch_is_fixed_and_preserves_geometry():
    g = torch.Generator().manual_seed(0)

    def state(d, a, n=50):
        w = AdapterWeights(*(torch.randn(s, generator=g) for s in [(n, d, a), (n, a), (n, a, d), (n, d)]))
        return ForwardState(task_ids=torch.zeros(n, dtype=torch.long), generated={Site("decoder", 0, "ffn_parallel"): w}), w
    big, w = state(100, 25)  # 5,125 parameters per instance
    (s1, n1), (s2, _) = layer_vectors(big, 256), layer_vectors(big, 256)
    full = torch.cat([t.flatten(1) for _, t in sorted(w.tensors().items())], dim=1).numpy()
    assert np.array_equal(s1["decoder.0"], s2["decoder.0"]) and s1["decoder.0"].shape == (50, 256)
    np.testing.assert_allclose(n1["decoder.0"], np.linalg.norm(full, axis=1), rtol=1e-5)
    ratio = np.linalg.norm(s1["decoder.0"], axis=1) / np.linalg.norm(full, axis=1)
    assert np.all((ratio > 0.75) & (ratio < 1.25))
    small, w = state(4, 2)  # 22 parameters: stored as they are, in sorted name order
    full = torch.cat([t.flatten(1) for _, t in sorted(w.tensors().items())], dim=1).numpy()
    np.testing.assert_array_equal(layer_vectors(small, 256)[0]["decoder.0"], full)


def test_swap_changes_output_only_through_the_adapters(tmp_path):
    live = LiveModel(tiny(config={"encoder_adapter_dim": 4, "decoder_adapter_dim": 4, "generator_hidden": 8}),
                     max_new_tokens=4)
    a, b = ("sentiment sentence: it was fine", "sentiment"), ("qa question: who? context: ana won.", "qa")
    result = live.swap(a, b)
    assert result.swapped_sites == 2
    same = live.swap(a, a)  # swapping with an identical input changes nothing
    assert same.a == same.a_with_b == same.b_with_a
    own = live.infer([a[0], b[0]], [a[1], b[1]])
    assert [r.prediction for r in own] == [result.a, result.b]
    with pytest.raises(ValueError, match="nothing to swap"):
        LiveModel(tiny("adapter", {"adapter_dim": 4})).swap(a, b)


def test_report_cli_json(tmp_path, capsys, monkeypatch):
    model = tiny()
    ckpt = save_checkpoint(model, tmp_path / "ck")
    extract(model, ckpt / "extraction", max_examples=12, predictions=False, progress=False)
    from analysis.maps import projection, report
    pca = projection.ProjectionSettings(method="pca")
    for module in (projection, report):  # no UMAP compile here
        monkeypatch.setattr(module, "DEFAULT_MAP", pca)
    assert main(["report", str(ckpt), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"task", "label", "output_type"} <= set(r["knn_accuracy"])
    assert {"knn_accuracy", "within_task_label_knn", "silhouette", "ari", "nmi"} <= set(r["baseline"])
    assert r["trustworthiness"] is not None and r["n"] == 36


def test_export_projector_and_parquet(tmp_path):
    model = tiny()
    ckpt = save_checkpoint(model, tmp_path / "ck")
    extract(model, ckpt / "extraction", max_examples=3, predictions=False, progress=False)
    assert main(["export", str(ckpt), "--out", str(tmp_path / "tb")]) == 0
    vectors = (tmp_path / "tb" / "vectors.tsv").read_text().splitlines()
    meta = (tmp_path / "tb" / "metadata.tsv").read_text().splitlines()
    assert len(vectors) == 9 and len(meta) == 10 and meta[0].startswith("id\ttask")
    assert len(vectors[0].split("\t")) == 32
    assert main(["export", str(ckpt), "--format", "parquet", "--vector", "params.decoder.0",
                 "--out", str(tmp_path / "p")]) == 0
    df = pd.read_parquet(tmp_path / "p.parquet")
    assert main(["export", str(ckpt), "--format", "parquet", "--out", str(tmp_path / "q.parquet")]) == 0
    assert (tmp_path / "q.parquet").is_file() and not (tmp_path / "q.parquet.parquet").exists()
    assert len(df) == 9 and len(df["params.decoder.0"].iloc[0]) == load_extraction(ckpt).vectors("params.decoder.0").shape[1]


def test_tag_predictions_are_shown_as_scored():
    from analysis.extract.reader import scored_form
    meta = pd.DataFrame({"output_type": ["tags", "tags", "label"],
                         "target": ["o b-origin i-origin", "EU = org", "yes"],
                         "prediction": ["o b - origin i - origin", "EU = org", "y - e - s"]})
    assert scored_form(meta).tolist() == ["o b-origin i-origin", "EU = org", "y - e - s"]


def test_a_live_prediction_carries_its_confidence_from_the_same_decoding():
    from analysis.data.tasks import Example
    from analysis.train.evaluate import predict
    model = tiny()
    live = LiveModel(model, max_new_tokens=4)
    texts = ["sentiment sentence: it was fine", "qa question: who? context: ana won."]
    results = live.infer(texts, ["sentiment", "qa"])
    examples = [Example(str(i), t, s, "", None, "label") for i, (s, t) in enumerate(zip(texts, ["sentiment", "qa"]))]
    preds, nlls = predict(model, examples, max_new_tokens=4, with_nll=True)
    assert [r.prediction for r in results] == preds
    np.testing.assert_allclose([r.nll for r in results], nlls, rtol=1e-4)
    assert not any(r.truncated or r.unknown for r in results)
    cut, odd = LiveModel(model, max_source_length=8).infer(["sentiment sentence: " + "fine " * 20, "sentiment ☃ ☃"],
                                                           ["sentiment"] * 2)
    assert (cut.tokens, cut.truncated, odd.truncated, odd.unknown) == (8, True, False, 2)
    [spaced] = LiveModel(model, max_source_length=8).infer(["sentiment sentence: a" + " " * 600 + "tail"], ["sentiment"])
    assert spaced.truncated  # cut by characters before tokenizing: "tail" is never read
