"""The real app in headless Chromium, on the tiny fixture checkpoint: the map draws (WebGL), every page loads
without a traceback, and a prediction round trip works. Screenshots land in pytest's tmp dir."""
import pytest

from tests import browser
from tests.app_fixture import app_env  # noqa: F401 -- the session fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGES = ("predict", "compare", "methods", "train")  # st.navigation's url paths; the Map is the root


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if reason := browser.ensure_chromium():
        pytest.skip(reason)
    with browser.chrome(tmp_path_factory.mktemp("chrome")) as d:
        yield d


@pytest.fixture(scope="module")
def app(app_env, tmp_path_factory):  # noqa: F811
    env = {"HYPERLENS_CHECKPOINTS": str(app_env["checkpoints"]), "HYPERLENS_RUNS": str(app_env["runs"]),
           "HYPERLENS_DEFAULT": app_env["names"][0], "HYPERLENS_WARMUP_UMAP": "0"}
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    with browser.app_server(env, log=log) as server:
        yield server


def test_map_draws_and_every_page_loads(app, driver, tmp_path):
    driver.get(app.url)
    browser.wait_map(driver, timeout=60)
    browser.wait_idle(driver)
    assert not browser.exceptions(driver)
    browser.screenshot(driver, tmp_path / "map.png")
    for page in PAGES:
        driver.get(f"{app.url}/{page}")
        browser.wait_idle(driver)
        assert not browser.exceptions(driver), page
        browser.screenshot(driver, tmp_path / f"{page}.png")


def test_predict_round_trip(app, driver):
    driver.get(f"{app.url}/predict")
    browser.wait_for(driver, "[data-testid='stFormSubmitButton'] button").click()
    browser.wait_for(driver, browser.markdown_bold("Prediction"), timeout=60)
    browser.wait_idle(driver)
    assert not browser.exceptions(driver)
