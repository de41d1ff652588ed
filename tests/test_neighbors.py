import numpy as np
import pytest

from analysis.maps.neighbors import (
    KnnPlacer,
    NeighborIndex,
    compare_params,
    compare_vectors,
    natural_key,
    order_keys,
    shared_neighbors,
)


@pytest.fixture
def two_clusters():
    """Two tight clusters in 16-d, mapped to x=0 and x=10 on a 2-D map."""
    rng = np.random.default_rng(0)
    centre_a, centre_b = np.eye(16)[0] * 5, np.eye(16)[1] * 5
    X = np.vstack([centre_a + rng.normal(0, 0.1, (50, 16)), centre_b + rng.normal(0, 0.1, (50, 16))])
    coords = np.vstack([rng.normal((0, 0), 0.1, (50, 2)), rng.normal((10, 0), 0.1, (50, 2))])
    return X.astype(np.float32), coords.astype(np.float32), centre_a, centre_b


def test_query_matches_brute_force_and_excludes_self():
    X = np.random.default_rng(1).normal(size=(200, 24)).astype(np.float32)
    index = NeighborIndex(X)
    ids, dist = index.query(X, 5, exclude=np.arange(200))
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    full = 1 - Xn @ Xn.T
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(ids, np.argsort(full, axis=1)[:, :5])
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :5], atol=1e-5)
    one_ids, one_dist = index.query(X[3], 4)
    assert one_ids.shape == (4,) and one_ids[0] == 3 and one_dist[0] == pytest.approx(0, abs=1e-6)


def test_equal_vectors_tie_to_the_lower_rows_whatever_rounding_the_blas_gave_them(monkeypatch):
    """A per-task method gives a task one vector; its rows' neighbours must not depend on the BLAS's last bit."""
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(2, 16)), 6, axis=0).astype(np.float32)  # two groups of 6 equal vectors
    index = NeighborIndex(X)
    exact = index.distances(index.X)
    noisy = exact + rng.uniform(-2e-7, 2e-7, exact.shape).astype(np.float32)  # another thread count's rounding
    for d in (exact, noisy):
        monkeypatch.setattr(index, "distances", lambda Q, d=d: d.copy())
        ids, _ = index.query(index.X, 3, exclude=np.arange(12))
        assert ids[0].tolist() == [1, 2, 3] and ids[1].tolist() == [0, 2, 3] and ids[7].tolist() == [6, 8, 9]
    assert order_keys(np.array([[np.inf, 0.5, 0.0]], np.float32)).argsort().tolist() == [[2, 1, 0]]


def test_a_batch_query_and_one_row_queries_give_the_same_neighbours_of_shared_vectors():
    """30 tasks of 40 rows that share one vector each: every group's distances are bit-identical, so the groups
    stay whole and in row order, however the BLAS tiles a batch product against a one-row one."""
    rng = np.random.default_rng(2)
    V = (rng.normal(size=(1, 1024)) * 3 + rng.normal(size=(30, 1024))).astype(np.float32)
    X = np.repeat(V, 40, axis=0)
    index = NeighborIndex(X)
    batch, _ = index.query(X[:120], 130, exclude=np.arange(120))
    single = np.stack([index.query(X[i], 130, exclude=i)[0] for i in range(120)])
    np.testing.assert_array_equal(batch, single)


def test_reference_point_lands_on_its_own_position(two_clusters):
    X, coords, *_ = two_clusters
    placed = KnnPlacer(X, coords, k=10).place(X[7])
    np.testing.assert_array_equal(placed.coords, coords[7])
    assert placed.neighbor_ids[0] == 7 and placed.spread == 0.0 and np.isfinite(placed.coords).all()


def test_point_between_clusters_lands_between_them(two_clusters):
    X, coords, centre_a, centre_b = two_clusters
    placer = KnnPlacer(X, coords, k=20)
    placed = placer.place((centre_a + centre_b) / 2)
    assert 2 < placed.coords[0] < 8 and placed.spread > 2  # uncertain: neighbours on both sides
    near_a = placer.place(np.stack([centre_a, centre_b]))
    assert near_a.coords.shape == (2, 2) and near_a.coords[0, 0] < 1 and near_a.coords[1, 0] > 9


def test_compare_vectors():
    result = compare_vectors(np.array([1.0, 0.0]), np.array([0.0, 2.0]))
    assert result["cosine"] == pytest.approx(0.0) and result["l2"] == pytest.approx(np.sqrt(5))
    live = np.random.default_rng(0).normal(size=64).astype(np.float32)  # a typed input's vector, and a row's as stored
    assert compare_vectors(live, live.astype(np.float16))["same"] and not result["same"]
    assert not compare_vectors(live, live + 0.01 * np.linalg.norm(live) / 8)["same"]  # 1% apart: two inputs


def test_compare_params_natural_order_and_values():
    a = {"decoder.10.wo": np.array([3.0, 4.0]), "decoder.2.wo": np.array([[1.0, 0.0]]), "encoder.1": np.zeros(3)}
    b = {"decoder.10.wo": np.array([3.0, 4.0]), "decoder.2.wo": np.array([[0.0, 3.0]]), "encoder.1": np.zeros(3)}
    rows = compare_params(a, b)
    assert [r["name"] for r in rows] == ["decoder.2.wo", "decoder.10.wo", "encoder.1"]
    d2, d10, enc = rows
    assert d2["cosine"] == pytest.approx(0.0) and d2["norm_a"] == 1.0 and d2["norm_b"] == 3.0
    assert d2["relative_diff"] == pytest.approx(np.sqrt(10) / 2)
    assert d10["cosine"] == pytest.approx(1.0) and d10["relative_diff"] == 0.0
    assert enc["relative_diff"] == 0.0  # both zero: no division by zero
    with pytest.raises(ValueError):
        compare_params(a, {**b, "extra": np.ones(1)})
    assert sorted(["layer.10", "layer.9", "layer.1"], key=natural_key) == ["layer.1", "layer.9", "layer.10"]


def test_shared_neighbors(two_clusters):
    X, *_ = two_clusters
    index = NeighborIndex(X)
    result = shared_neighbors(index, X[0], X[1], k=10, exclude=(0, 1))
    a, b = result["a"][0].tolist(), result["b"][0].tolist()
    assert not {0, 1} & set(a + b) and len(a) == 10 and len(result["a"][1]) == 10
    typed_copy = shared_neighbors(index, X[0], X[0], k=10, exclude=(0, None))  # B typed as A's text: no row
    assert typed_copy["shared"] == typed_copy["a"][0].tolist()  # 10 of 10, not 9: A's row is in neither list
    assert result["shared"] == [n for n in a if n in b]
    assert all(n < 50 for n in a + b)  # same cluster
    assert shared_neighbors(index, X[0], X[60], k=10, exclude=(0, 60))["shared"] == []
