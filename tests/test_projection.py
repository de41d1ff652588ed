import json
import os

import numpy as np
import pytest

from analysis.maps import projection
from analysis.maps.projection import ProjectionSettings, project


@pytest.fixture
def blobs():
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=300, centers=4, n_features=32, random_state=0)
    return X.astype(np.float32)


def test_settings_round_trip_and_key_is_content_based(blobs):
    s = ProjectionSettings(method="pca", pca_dims=50, seed=3)
    assert s.key(blobs) == s.key(blobs.copy())
    assert s.key(blobs) != ProjectionSettings(method="pca", seed=4).key(blobs)
    assert s.key(blobs) != s.key(blobs.astype(np.float64))
    changed = blobs.copy()
    changed[0, 0] += 1
    assert s.key(blobs) != s.key(changed)
    with pytest.raises(ValueError):
        ProjectionSettings(method="mds")


def test_cache_hit_skips_the_fit_and_saves_settings(blobs, tmp_path, monkeypatch):
    fits = []
    real_fit = projection._fit
    monkeypatch.setattr(projection, "_fit", lambda X, s: fits.append(1) or real_fit(X, s))
    s = ProjectionSettings(method="pca")
    first = project(blobs, s, cache_dir=tmp_path)
    second = project(blobs, s, cache_dir=tmp_path)
    assert len(fits) == 1 and not first.from_cache and second.from_cache
    np.testing.assert_array_equal(first.coords, second.coords)
    assert second.key == first.key
    meta = json.loads((tmp_path / f"{first.key}.json").read_text())
    assert meta["settings"] == s.to_dict() and meta["n"] == len(blobs)
    assert meta["input"] == {"shape": [300, 32], "dtype": "<f4"} and meta["versions"]["numpy"]
    assert sorted(os.listdir(tmp_path)) == sorted([f"{first.key}.npy", f"{first.key}.json"])  # no temp files left
    project(blobs, ProjectionSettings(method="pca", seed=1), cache_dir=tmp_path)
    assert len(fits) == 2


def test_pca_and_tsne_shapes_and_reproducible(blobs):
    for n_components in (2, 3):
        pca = project(blobs, ProjectionSettings(method="pca", n_components=n_components))
        assert pca.coords.shape == (300, n_components) and pca.coords.dtype == np.float32
    tsne_settings = ProjectionSettings(method="tsne", pca_dims=16, perplexity=20, seed=7)
    a, b = project(blobs, tsne_settings), project(blobs, tsne_settings)
    assert a.coords.shape == (300, 2)
    np.testing.assert_allclose(a.coords, b.coords, atol=1e-5)


def test_warmup_compiles_once(monkeypatch):
    import umap
    fits = []
    monkeypatch.setattr(umap.UMAP, "fit", lambda self, X: fits.append(len(X)) or self)
    monkeypatch.setattr(umap.UMAP, "transform", lambda self, X: X)
    monkeypatch.setattr(projection, "_warm_done", projection.threading.Event())
    projection.warmup_umap()
    projection.warmup_umap()
    assert fits == [300]
