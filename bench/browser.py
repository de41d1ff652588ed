"""Drive the app in headless Chromium (Debian's `chromium` + `chromium-driver`) through selenium.

    with app_server(env) as app, chrome() as driver:
        visit(driver, app.url, "predict"); assert not exceptions(driver)

Shared by tests/test_browser.py and bench/app.py. `python -m bench.browser docs/screenshots` screenshots every
page of the app as `make run` starts it.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from analysis import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                # headless Chromium draws WebGL (Plotly's Scattergl) blank without a software GL backend
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--window-size=1600,1000")
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"  # the script run has finished
PAGES = {"map": "", "predict": "predict", "compare": "compare", "methods": "methods", "train": "train"}  # url paths


def ensure_chromium() -> str | None:
    """None when Chromium and its driver are ready (installed with apt when missing and root), else why not."""
    if shutil.which("chromium") and Path(CHROMEDRIVER).exists():
        return None
    if os.geteuid() != 0:
        return "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    cmd = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver"
    done = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    if done.returncode:
        return f"installing chromium failed: {done.stderr.strip()[-300:]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    url: str
    process: subprocess.Popen
    launched: float  # time.perf_counter() at launch
    healthy: float = 0.0  # and when /_stcore/health first answered


def streamlit_command(port: int, script: str = "app/streamlit_app.py") -> list[str]:
    """As `make run` starts it, on another port."""
    return [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]


@contextmanager
def app_server(env: dict | None = None, log: Path | None = None, timeout: float = 60,
               script: str = "app/streamlit_app.py"):
    """The app in a subprocess, yielded once /_stcore/health answers."""
    port = free_port()
    full_env = {**os.environ, **ENVIRONMENT, **(env or {})}
    out = open(log, "wb") if log else subprocess.DEVNULL
    launched = time.perf_counter()
    proc = subprocess.Popen(streamlit_command(port, script), cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    app = App(f"http://127.0.0.1:{port}", proc, launched)
    try:
        wait_healthy(app, timeout)
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


def wait_healthy(app: App, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if app.process.poll() is not None:
            raise RuntimeError(f"the app exited with code {app.process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(app.url + "/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    app.healthy = time.perf_counter()
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"the app did not answer {app.url}/_stcore/health within {timeout:.0f} s")


@contextmanager
def chrome(user_data_dir: Path | None = None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as tmp:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROME_FLAGS, f"--user-data-dir={user_data_dir or tmp}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(driver, selector: str, timeout: float = 30):
    """The first element matching a CSS selector, or an XPath when it starts with '/'."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    by = By.XPATH if selector.startswith("/") else By.CSS_SELECTOR
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(ec.presence_of_element_located((by, selector)))


def markdown_bold(text: str) -> str:
    """XPath of a **bold** phrase in st.markdown, e.g. Predict's "**Prediction**"."""
    return f"//*[@data-testid='stMarkdownContainer']//strong[normalize-space()='{text}']"


SWAP_DONE = "//*[contains(normalize-space(), 'generated decoder sites swapped')]"  # the caption under the swap table
MAP_DRAWN = ".js-plotly-plot canvas, .js-plotly-plot .scatterlayer .point"  # WebGL (Scattergl) or SVG points


def wait_map(driver, timeout: float = 60):
    """The first Plotly map with its points drawn: a Scattergl canvas, or SVG points below figures.WEBGL_FROM."""
    return wait_for(driver, MAP_DRAWN, timeout)


def wait_idle(driver, timeout: float = 60) -> None:
    """Until the page's script run has finished (a fragment's timer may start another later)."""
    wait_for(driver, IDLE, timeout)


def exceptions(driver) -> list[str]:
    """Texts of the tracebacks Streamlit shows on the page (none is the goal)."""
    from selenium.webdriver.common.by import By
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")]


def screenshot(driver, path: Path, full_page: bool = True) -> Path:
    """A PNG of the page; full_page grows the window to the main column's height first (Streamlit scrolls
    inside that column, not the document)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    for _ in range(2 if full_page else 0):  # twice: tables drawn late can grow the page after the first resize
        time.sleep(1)  # let charts and tables (drawn on canvases) paint at the current size
        height = driver.execute_script(
            "const m = document.querySelector(\"[data-testid='stMainBlockContainer']\");"
            "return m ? m.scrollHeight : document.body.scrollHeight;")
        driver.set_window_size(size["width"], max(size["height"], height + 200))
    time.sleep(1 if full_page else 0)
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    return path


def visit(driver, url: str, page: str, timeout: float = 120) -> None:
    """Open a page (a PAGES key) and wait until its script run ends; on Predict, run one prediction too."""
    driver.get(f"{url}/{PAGES[page]}")
    if page == "map":
        wait_map(driver, timeout)
    wait_idle(driver, timeout)
    if page == "predict":
        wait_for(driver, "[data-testid='stFormSubmitButton'] button").click()
        wait_for(driver, markdown_bold("Prediction"), timeout)
        wait_idle(driver, timeout)
    if page == "compare":  # the adaptation swap: decode A with B's generated adapters
        wait_for(driver, "//button[normalize-space()='Swap their adapters']").click()
        wait_for(driver, SWAP_DONE, timeout)
        wait_idle(driver, timeout)


def shoot_pages(driver, url: str, out: Path) -> dict[str, list[str]]:
    """Screenshot every page to out/<page>.png; returns the tracebacks shown on each."""
    errors = {}
    for page in PAGES:
        visit(driver, url, page)
        screenshot(driver, out / f"{page}.png")
        errors[page] = exceptions(driver)
    return errors


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="Screenshot every page of the app, as `make run` starts it.")
    ap.add_argument("out", type=Path, help="folder for the PNGs, e.g. docs/screenshots")
    out = ap.parse_args().out
    if reason := ensure_chromium():
        sys.exit(reason)
    with app_server(timeout=120) as app, chrome() as driver:
        for page, errors in shoot_pages(driver, app.url, out).items():
            print(page, "ok" if not errors else errors)
