"""The explorer's pages under AppTest, on a tiny trained checkpoint (the app_env fixture in conftest.py)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

NAME = "tiny-hyperdecoder"
APP = str(Path(__file__).resolve().parents[1] / "app" / "streamlit_app.py")


@pytest.fixture
def app(app_env, monkeypatch):
    import app.config as config

    monkeypatch.setattr(config, "CHECKPOINT_DIRS", [app_env["checkpoints"]])
    monkeypatch.setattr(config, "RUNS_DIR", app_env["runs"])
    monkeypatch.setattr(config, "DEFAULT_CHECKPOINT", app_env["names"][0])
    monkeypatch.setattr(config, "WARMUP_UMAP", False)
    st.cache_data.clear()
    st.cache_resource.clear()

    def start(page: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60).run()
        if page:
            at.switch_page(f"app_pages/{page}.py").run()
        assert_clean(at)
        return at
    return start


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def select(at: AppTest, key: str, rows: list[int]) -> AppTest:
    """Simulate a lasso: the selection event as the frontend would send it."""
    at.session_state[key] = {"selection": {"points": [{"customdata": [r]} for r in rows], "box": [], "lasso": []}}
    return at.run()


def test_map_renders_recolours_and_keeps_a_selection(app):
    at = app()
    assert at.sidebar.selectbox(key="checkpoint").value == "tiny-hyperdecoder"
    assert len(charts(at)) == 1
    assert any("PCA" in c.value for c in at.caption)  # no cached UMAP: PCA stands in, nothing compiles
    select(at, "map_chart", [0, 3, 20, 999])  # 999: a stale id from another extraction, ignored
    assert_clean(at)
    assert at.session_state["sel_ids"] == [0, 3, 20]
    assert at.dataframe[0].value["row"].tolist() == [0, 3, 20]  # the linked table
    for colour in ("label", "correct", "cluster"):
        at.selectbox(key="color_by").select(colour).run()
        assert_clean(at)
        assert at.session_state["sel_ids"] == [0, 3, 20]
    next(b for b in at.button if b.label == "Clear selection").click().run()
    assert at.session_state["sel_ids"] == []


def test_map_search_selects_all_matches_and_the_quality_report_shows_matched_baselines(app):
    from app.services.selection import TABLE_COLUMNS
    at = app()
    at.text_input[0].input("sentiment").run()
    assert_clean(at)
    button = next(b for b in at.button if b.label.startswith("Select all"))
    n = int(button.label.split()[2].replace(",", ""))
    button.click().run()
    assert_clean(at)
    assert len(at.session_state["sel_ids"]) == n > 0
    table = at.dataframe[0].value  # the selection table: the prediction beside its target
    assert list(table.columns) == TABLE_COLUMNS and len(table) == n
    assert table["source"].str.contains("sentiment", case=False).all()
    at.toggle[0].set_value(True).run()
    assert_clean(at)
    facets = next(df.value for df in at.dataframe if "kNN accuracy (shuffled)" in df.value.columns)
    assert facets["kNN accuracy (shuffled)"].notna().all()
    assert any("ARI and NMI" in c.value for c in at.caption)


def test_predict_shows_a_prediction_on_the_map(app):
    at = app("predict")
    next(b for b in at.button if b.label == "Predict").click().run()
    assert_clean(at)
    assert any(m.value.startswith("**Prediction**") for m in at.markdown)
    assert len(charts(at)) == 1
    assert len(at.session_state["history"]) == 1


def test_predict_refuses_an_empty_field_and_says_what_the_model_did_not_read(app):
    at = app("predict")
    at.selectbox(key="predict_task").select("qa").run()
    at.text_area[0].input("  ")
    next(b for b in at.button if b.label == "Predict").click().run()
    assert_clean(at)
    assert "Fill in `question`" in at.warning[0].value and "history" not in at.session_state
    at.text_area[0].input("who won? " * 200)
    next(b for b in at.button if b.label == "Predict").click().run()
    assert_clean(at)
    assert "cut to its first 128 tokens" in at.warning[0].value
    at.text_area[0].input(" ")  # emptied again: the last prediction must not stay below as if it were this input's
    next(b for b in at.button if b.label == "Predict").click().run()
    assert "Fill in `question`" in at.warning[0].value
    assert not any(m.value.startswith("**Prediction**") for m in at.markdown) and not charts(at)


def test_compare_pins_and_swaps(app):
    at = app()
    select(at, "map_chart", [2, 30])
    next(b for b in at.button if b.label == "Pin as B").click().run()
    at.switch_page("app_pages/compare.py").run()
    assert_clean(at)
    assert at.number_input(key="cmp_row_B").value == 2
    assert len(charts(at)) == 2  # layer heatmap + map
    next(b for b in at.button if b.label == "Swap their adapters").click().run()
    assert_clean(at)
    swap = at.dataframe[-1].value
    assert swap["decoding"].tolist()[1] == "A with B's adapters"
    pinned = at.session_state["cmp_id_B"]
    at.selectbox(key="checkpoint").select(next(n for n in at.selectbox(key="checkpoint").options if n != NAME)).run()
    assert_clean(at)  # another checkpoint of the same examples: B is still the example pinned, found by its id
    assert at.session_state["cmp_id_B"] == pinned


def test_methods_ranks_every_checkpoint_and_shows_two(app, app_env):  # noqa: F811
    at = app("methods")
    ranking = at.dataframe[0].value
    assert sorted(ranking["checkpoint"]) == sorted(app_env["names"])
    assert {"method", "adapts per", "average", "task kNN", "label kNN", "trainable", "minutes"} <= set(ranking.columns)
    assert len(charts(at)) == 2
    select(at, "methods_map_0", [1, 2])
    assert_clean(at)
    assert len(at.session_state["linked_ids"]) == 2


def test_methods_names_a_sampled_map_in_its_caption_row_so_both_maps_start_level(app, monkeypatch):
    from app.services import maps
    sample = maps.stratified_sample
    monkeypatch.setattr(maps, "stratified_sample", lambda meta, max_points=10, seed=0: sample(meta, max_points, seed))
    at = app("methods")
    notes = [c.value for c in at.caption if "sampled per task" in c.value]
    assert len(notes) == 2 and all(n.startswith("**") for n in notes)  # in each side's caption, not on its own line
    assert len(charts(at)) == 2


def test_missing_extraction_says_how_to_create_it(app, app_env):  # noqa: F811
    bare = app_env["runs"] / "no-extraction"
    bare.mkdir(exist_ok=True)
    (bare / "config.json").write_text((app_env["checkpoints"] / app_env["names"][0] / "config.json").read_text())
    at = app()
    at.sidebar.selectbox(key="checkpoint").select("no-extraction").run()
    assert not at.exception
    assert any("python -m analysis extract" in c.value for c in at.code)


def test_3d_map(app):
    at = app()
    at.radio(key="map_dims").set_value(3).run()
    assert_clean(at)
    assert '"scatter3d"' in charts(at)[0].proto.spec


def test_slow_projection_runs_in_the_background_then_replaces_pca(app):
    import app.state as state
    from analysis.maps.projection import ProjectionSettings
    from app.services.catalog import Ckpt

    at = app()
    at.radio(key="map_method").set_value("tsne").run()  # t-SNE: a slow fit that needs no numba compile
    assert any("not computed yet" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Compute t-SNE").click().run()
    ckpt = Ckpt.at(NAME, Path(state.checkpoint_paths()[NAME]))
    X = state.extraction(ckpt).vectors("embedding")
    state.projections().result(state.projections().key(X, ProjectionSettings(method="tsne")), timeout=240)
    at.run()
    assert_clean(at)
    assert any("t-SNE 2-D (perplexity 30)" in c.value for c in at.caption)


def test_a_background_fit_can_be_cancelled(app, monkeypatch):
    import app.services.maps as maps
    import app.state as state
    from analysis.maps.projection import ProjectionSettings
    from app.services.catalog import Ckpt

    monkeypatch.setattr(maps.Worker, "submit", lambda self, fn, *a: maps.Future())  # a fit that never ends by itself
    at = app()
    at.radio(key="map_method").set_value("tsne").run()
    at.radio(key="map_dims").set_value(3).run()  # a map no other test computes
    next(b for b in at.button if b.label == "Compute t-SNE").click().run()
    ckpt = Ckpt.at(NAME, Path(state.checkpoint_paths()[NAME]))
    manager = state.projections()
    key = manager.key(state.extraction(ckpt).vectors("embedding"), ProjectionSettings(method="tsne", n_components=3))
    assert manager.status(key).state == "running"
    assert any("so far" in i.value for i in at.info)  # the elapsed time is shown
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert_clean(at)
    assert manager.status(key).state == "none"
    assert any("not computed yet" in i.value for i in at.info)


def test_map_of_generated_parameters(app):
    at = app()
    at.selectbox(key="map_vector").select("params.decoder.1").run()
    assert_clean(at)
    assert any(c.value.startswith("generated parameters · decoder layer 1 · PCA 2-D") for c in at.caption)


def test_compare_frames_a_typed_input_by_its_task_and_says_when_a_and_b_share_one_vector(app):
    at = app("compare")
    at.radio(key="cmp_mode_B").set_value("typed input").run()
    at.selectbox(key="cmp_task_B").select("topic").run()
    assert [t.label for t in at.text_area] == ["text"]  # the field, under the task's own prefix
    at.text_area[0].input(" ").run()
    assert_clean(at)
    assert "Fill in `text`" in at.warning[0].value
    at.radio(key="cmp_mode_B").set_value("validation row").run()
    at.number_input(key="cmp_row_B").set_value(0).run()  # A's row too
    assert_clean(at)
    assert sum("share one conditioning vector" in i.value for i in at.info) == 1
    assert "a swap cannot change either output" in at.info[-1].value
    assert not any(b.label == "Swap their adapters" for b in at.button)


def test_compare_two_typed_inputs_each_wait_on_their_own_model_call(app):
    """Each typed input waits on its own call, with its own Cancel button (one shared key would crash the page)."""
    at = app("compare")
    for slot in "AB":
        at.radio(key=f"cmp_mode_{slot}").set_value("typed input").run()
    at.selectbox(key="cmp_task_B").select("topic").run()
    st.cache_resource.clear()  # no kept results: both inputs are generated in this run
    at.run()
    assert_clean(at)
    assert sum(m.value.startswith("**Output:**") for m in at.markdown) == 2


def test_predict_edits_a_task_input_field_by_field_and_shows_the_target_only_when_unedited(app):
    at = app("predict")
    at.selectbox(key="predict_task").select("qa").run()
    fields = [t.label for t in at.text_area]
    assert fields == ["question", "context"]  # the task's own fields, in its order
    next(b for b in at.button if b.label == "Predict").click().run()
    assert_clean(at)
    shown = next(m.value for m in at.markdown if m.value.startswith("**Prediction**"))
    assert "target" in shown
    at.text_area[1].input(at.text_area[1].value + " it rained.")
    next(b for b in at.button if b.label == "Predict").click().run()
    assert_clean(at)
    shown = next(m.value for m in at.markdown if m.value.startswith("**Prediction**"))
    task, text, row = at.session_state["history"][-1]
    assert text.endswith("it rained.") and "target" not in shown  # edited: no longer the row's gold target


def test_the_confidence_line_reads_a_tie_among_the_neighbours_as_a_split_not_a_majority():
    from types import SimpleNamespace

    from app.services.instances import confidence_line
    result = SimpleNamespace(nll=0.5, task="sentiment", prediction="positive")
    near = lambda targets: pd.DataFrame({"task": "sentiment", "output_type": "label", "target": targets})  # noqa: E731
    distances = np.full(10, 0.1)
    assert "split between `positive` and `negative`" in confidence_line(result, near(["positive", "negative"] * 5), distances)
    line = confidence_line(result, near(["negative"] * 6 + ["positive"] * 4), distances)
    assert line.startswith("Confidence: mean token NLL 0.500") and "`negative` (60%), which **disagrees**" in line
    assert "nearest" not in confidence_line(result, near(["negative"] * 10), np.zeros(10))  # one vector for the task
