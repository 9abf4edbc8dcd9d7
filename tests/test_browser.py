"""The app as a user meets it: served by the README's command, driven in headless
Chromium (Debian's, via Playwright). Screenshots land in tests/artifacts/."""
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

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
    yield from serve_app(demo_store.root)


def serve_app(project: Path):
    """Start the app as a user does (``./dev.sh app``) on ``project`` and a free port;
    yields its URL once it answers, stops it afterwards. For a fixture: ``yield from``."""
    port = _free_port()
    proc = subprocess.Popen([str(ROOT / "dev.sh"), "app", "--", "--project", str(project)],
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
    yield from chromium_page(1400, 1000)


def chromium_browser():
    """Debian's headless Chromium (for several pages or contexts); closed afterwards.
    For a fixture: ``yield from``."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./dev.sh test installs Debian's chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def chromium_page(width: int, height: int):
    """A page of Debian's headless Chromium at ``width`` x ``height``; closed afterwards.
    For a fixture: ``yield from``."""
    for browser in chromium_browser():
        yield browser.new_page(viewport={"width": width, "height": height})


def one_canvas(page):
    """The Review canvas's event layer once exactly one canvas is on the page (the first
    draw may be replaced when the page learns the window's size); its locator."""
    upper = page.locator("canvas.upper-canvas")
    upper.first.wait_for(timeout=30_000)
    for _ in range(60):  # in the component's shadow root: only the locator sees it
        if upper.count() == 1:
            break
        page.wait_for_timeout(500)
    return upper


def settled(page, timeout: int = 30_000) -> None:
    """Wait until the page's script has run and nothing on it is stale."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        timeout=timeout)
    page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0",
                           timeout=timeout)


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


def _rendered(page) -> None:
    """Wait until the page's script has run and nothing on it is stale or loading."""
    settled(page)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)


@pytest.fixture
def lived_in(demo_store):
    """Something on every page: two external models with predictions on the test split,
    one active and the other compared with it, and a selection of pool images that the
    active one pre-labels."""
    from al_core.decide.compare import parse_compare_config
    from al_core.decide.comparison import compare_models
    from al_core.types import SelectionItem
    from tests.test_compare import DATALOOP, _add_model

    store = demo_store
    good = _add_model(store, "good", keep=0.95, seed=1)
    store.apply_decision(good, "update_model")
    worse = _add_model(store, "worse", keep=0.6, seed=2)
    compare_models(store, worse, None, parse_compare_config(DATALOOP), raw_config=DATALOOP)
    pool = store.query_pool()[:6]
    truth = store.oracle_boxes(pool)
    store.add_predictions(good, [(i, b.class_id, b.box, 0.8) for i in pool for b in truth[i]])
    store.add_selection(tag="al-iteration-1", round=1, strategy="uncertainty", config={},
                        seed=0, model_id=good,
                        items=[SelectionItem(i, r, 1 - r / 10, False) for r, i in enumerate(pool)])
    return store


def test_no_page_requests_anything_outside_localhost(lived_in, served, page):
    """Local-first: every page, the review canvas included, loads only from the app."""
    from ui.chrome import PAGES

    outside = []

    def check(request) -> None:
        url = urlparse(request.url)
        if url.scheme not in ("data", "blob", "about") and \
                url.hostname not in ("localhost", "127.0.0.1", "::1"):
            outside.append(f"{request.url} (from {page.url})")

    page.context.on("request", check)
    for _, title, _, url_path in PAGES:
        page.goto(f"{served}/{url_path}")
        _rendered(page)
        assert page.locator('[data-testid="stException"]').count() == 0, title
    page.goto(f"{served}/review?selection=al-iteration-1")
    page.get_by_label("Your name").fill("e2e")
    page.get_by_role("button", name="Start reviewing").click()
    page.locator("canvas.upper-canvas").first.wait_for(timeout=30_000)  # one, or two while
    # a first draw made before the viewport was reported is replaced by the resized one
    page.wait_for_load_state("networkidle")
    assert not outside, "requests that left localhost:\n" + "\n".join(outside)
    icon = page.evaluate("document.querySelector('link[rel~=\"icon\"]').href")
    assert icon.startswith(served), icon  # the tab icon is the app's own file


def test_the_query_page_redraws_when_its_job_ends(served, page):
    """The pool count and the batch's download follow the query job without a reload."""
    page.goto(f"{served}/query")
    page.get_by_text(re.compile("The pool holds 32 unlabeled")).wait_for(timeout=30_000)
    assert page.get_by_text("Download COCO with pre-labels").count() == 0
    picked = page.get_by_label("Images to pick")
    picked.fill("6")
    picked.press("Tab")
    page.locator('[data-testid="stFormSubmitButton"] button').click()
    page.get_by_text(re.compile("The pool holds 26 unlabeled")).wait_for(timeout=90_000)
    page.get_by_role("button", name=re.compile("Download COCO with pre-labels")).wait_for(
        timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "query-after-job.png", full_page=True)
