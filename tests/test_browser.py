"""The app as a user meets it: served by the README's command, driven in headless
Chromium (Debian's, via Playwright). Screenshots land in tests/artifacts/."""
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(demo_store):
    port = _free_port()
    proc = subprocess.Popen([str(ROOT / "dev.sh"), "app", "--", "--project", str(demo_store.root)],
                            cwd=ROOT, env={**os.environ, "PORT": str(port)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the app did not start: {proc.stdout.read()}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./dev.sh test installs Debian's chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def test_a_new_user_sees_the_project_counts_and_browses_images(served, page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(served)
    page.get_by_text("Items by split").wait_for(timeout=30_000)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Images")
    assert metric.locator('[data-testid="stMetricValue"]').inner_text() == "40"
    test_metric = page.locator('[data-testid="stMetric"]').filter(has_text="Test set")
    assert "frozen" in test_metric.inner_text()
    page.screenshot(path=ARTIFACTS / "project.png", full_page=True)

    page.get_by_role("link", name="Images").click()
    page.get_by_text("40 images match").wait_for(timeout=30_000)
    page.wait_for_function("document.querySelectorAll('[data-testid=\"stImage\"] img').length"
                           " >= 24 && [...document.querySelectorAll('[data-testid=\"stImage\"]"
                           " img')].every(i => i.complete && i.naturalWidth > 0)",
                           timeout=30_000)
    page.get_by_text("unlabeled", exact=True).first.click()  # the status filter
    page.get_by_text("32 images match").wait_for(timeout=30_000)
    captions = page.locator('[data-testid="stCaptionContainer"]').filter(
        has_text="pool · unlabeled")
    page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0",
                           timeout=30_000)
    assert captions.count() == 24  # every thumbnail on the page is an unlabeled pool image
    page.screenshot(path=ARTIFACTS / "images.png", full_page=True)


def test_a_deep_link_or_reload_keeps_the_navigation(served, page):
    """Streamlit runs pages/images.py directly for /images; the page must bring the app's
    frame (navigation, project) with it."""
    page.goto(served + "/images")
    page.get_by_text("40 images match").wait_for(timeout=30_000)
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Project").is_visible() and nav.get_by_text("Images").is_visible()
    assert page.get_by_text("Page not found").count() == 0
    page.reload()
    page.get_by_text("40 images match").wait_for(timeout=30_000)
