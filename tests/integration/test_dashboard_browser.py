"""The dashboard in a real headless Chromium: `toollife dashboard` serves the test lakehouse,
selenium loads every page, the DOE page shows its charts and no page shows a Streamlit error.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). Screenshots go
to var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dashboard_lakehouse import filled_lakehouse  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
CHARTS = '[data-testid="stImage"] img'

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} / {CHROMEDRIVER} missing: .ci/run installs chromium and chromium-driver")
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard_url(filled_lakehouse, tmp_path_factory):
    """`toollife dashboard` as a user starts it, on a free port, over the test lakehouse."""
    config, _ = filled_lakehouse
    port = _free_port()
    log = tmp_path_factory.mktemp("dashboard") / "streamlit.log"
    cmd = [sys.executable, "-m", "toollife.cli", "dashboard", "--port", str(port),
           "--set", f"lakehouse.root={config['lakehouse']['root']}"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"dashboard exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"dashboard not healthy after 90 s:\n{log.read_text()}")
            time.sleep(0.5)
        first_line = log.read_text().splitlines()[0]
        assert first_line.startswith(f"toollife dashboard: {url}"), first_line
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _screenshot(driver, name: str) -> Path:
    """The whole page: the window grown to the app's scroll height, then a PNG under var/screenshots."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]');"
        "return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight);")
    driver.set_window_size(1400, min(max(int(height) + 80, 1000), 8000))
    time.sleep(1.0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"dashboard_{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path


def _wait_rendered(driver, timeout: float = 120) -> None:
    """Streamlit has finished the script run: the app is no longer 'running' and has a title."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "h1")
        and d.execute_script("const s = document.querySelector('[data-testid=\"stStatusWidget\"]');"
                             "return !s || !s.innerText.includes('Running');"))


def test_doe_page_in_chromium(dashboard_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{dashboard_url}/doe")
    # the six figures of the DOE page, each a loaded PNG
    WebDriverWait(browser, 120).until(lambda d: len([
        img for img in d.find_elements(By.CSS_SELECTOR, CHARTS)
        if d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)]) >= 6)
    _wait_rendered(browser)
    assert browser.find_elements(By.CSS_SELECTOR, ERRORS) == []
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Design of experiments"
    body = browser.find_element(By.TAG_NAME, "body").text
    for text in ("Effects", "Best settings", "Taylor tool life and cost per part", "cost-optimal speed"):
        assert text in body, text
    shot = _screenshot(browser, "doe")
    assert shot.stat().st_size > 50_000


@pytest.mark.parametrize("page, title", [("", "Summary"), ("plant", "Plant"), ("models", "Tool-life models"), ("quality", "Data quality")])
def test_other_pages_in_chromium(dashboard_url, browser, page, title):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{dashboard_url}/{page}")
    WebDriverWait(browser, 120).until(lambda d: [h.text for h in d.find_elements(By.CSS_SELECTOR, "h1")] == [title])
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]'))
    _wait_rendered(browser)
    assert browser.find_elements(By.CSS_SELECTOR, ERRORS) == []
    assert "Page not found" not in browser.find_element(By.TAG_NAME, "body").text
    _screenshot(browser, page or "summary")

