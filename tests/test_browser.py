"""The real app in headless Chromium, on the tiny fixture checkpoint: the map draws (WebGL), every page loads
without a traceback and a prediction round trip works. Screenshots land in pytest's tmp dir."""
import time

import pytest

from bench import browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if reason := browser.ensure_chromium():
        pytest.skip(reason)
    with browser.chrome(tmp_path_factory.mktemp("chrome")) as d:
        yield d


@pytest.fixture(scope="module")
def app(app_env, tmp_path_factory):
    env = {"HYPERLENS_CHECKPOINTS": str(app_env["checkpoints"]), "HYPERLENS_RUNS": str(app_env["runs"]),
           "HYPERLENS_DEFAULT": app_env["names"][0], "HYPERLENS_WARMUP_UMAP": "0"}
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    with browser.app_server(env, log=log) as server:
        yield server


def test_every_page_renders_without_tracebacks(app, driver, tmp_path):
    """Every page, with the map drawn on Map, a prediction on Predict and the adaptation swap on Compare: visit()
    waits for each of them and raises when one does not appear."""
    errors = browser.shoot_pages(driver, app.url, tmp_path)
    assert errors == {page: [] for page in browser.PAGES}
    assert all((tmp_path / f"{page}.png").stat().st_size > 10_000 for page in browser.PAGES)


def test_the_server_stops_within_seconds_while_a_page_is_still_working(driver, tmp_path):
    env = {"HYPERLENS_WARMUP_UMAP": "0", "HYPERLENS_CACHE": str(tmp_path)}
    with browser.app_server(env, script="tests/fixtures/busy_app.py") as server:
        driver.get(server.url)
        browser.wait_for(driver, "//*[@data-testid='stMarkdownContainer']//p[normalize-space()='working']")
        start = time.perf_counter()
        server.process.terminate()
        server.process.wait(30)  # the page sleeps for 120 s; without the exit watch this times out
        assert time.perf_counter() - start < 15
