"""Nothing lost, nothing stuck, in headless Chromium (Debian's, driven by Playwright): the
editor that opens after the grid is scrolled to the top and a box drawn at the image's top
edge is saved; a closed tab's image is free for another annotator within seconds; an idle
tab stops its image's clock and lets the image go, and takes it again on return; an
open tab keeps its image without rerunning the page; the images an annotator skipped are
reachable and labeled from the Review page.
Screenshots go to tests/artifacts/ (1280x800 and 1920x1080)."""
from __future__ import annotations

import re
import time

import pytest

from al_core import clock
from al_core.types import SelectionItem
from tests.test_browser import ARTIFACTS, chromium_browser, serve_app, settled

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TAG = "al-iteration-1"
IDLE_S = 2  # the served app's idle threshold in the idle test (ALS_IDLE_SECONDS)


@pytest.fixture
def batch(demo_store):
    """A selection of 16 pool images whose pre-labels are the ground truth."""
    store = demo_store
    pool = store.query_pool()[:16]
    truth = store.oracle_boxes(pool)
    model_id = store.add_model(name="stand-in", arch="external", status="external")
    store.add_predictions(model_id, [(i, b.class_id, b.box, 0.9) for i in pool
                                     for b in truth[i]])
    store.add_selection(tag=TAG, round=1, strategy="uncertainty", config={}, seed=0,
                        model_id=model_id,
                        items=[SelectionItem(i, r, 1 - r / 20, False) for r, i in enumerate(pool)])
    return store, pool


@pytest.fixture
def browser():
    yield from chromium_browser()


def _start(browser, url: str, name: str, size=(1280, 800)):
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/review?selection={TAG}")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Start reviewing").click()
    return page, errors


def _one_canvas(page):
    upper = page.locator("canvas.upper-canvas")
    upper.first.wait_for(timeout=30_000)
    for _ in range(60):  # a first draw before the viewport was reported is replaced
        if upper.count() == 1:
            break
        page.wait_for_timeout(500)
    upper.wait_for(timeout=1_000)
    page.wait_for_timeout(600)
    return upper


def _showing(page, item_id: int) -> None:
    page.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text=re.compile(rf"^#{item_id}\b")).first.wait_for(timeout=30_000)


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    vp = page.viewport_size
    return box is not None and 0 <= box["y"] and box["y"] + 10 <= vp["height"]


def _shots(page, name: str, *, active: bool = False) -> None:
    """Screenshots at 1280x800 and 1920x1080; ``active``: with a pointer move before each,
    so that a tab with a short idle threshold stays in use meanwhile."""
    ARTIFACTS.mkdir(exist_ok=True)
    for w, h in ((1280, 800), (1920, 1080)):
        page.set_viewport_size({"width": w, "height": h})
        if active:
            page.mouse.move(300 + w % 7, 300)
        page.wait_for_timeout(700)
        page.screenshot(path=ARTIFACTS / f"{name}-{w}x{h}.png")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_timeout(500)


@pytest.fixture
def served(batch):
    yield from serve_app(batch[0].root)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)], ids=["1280x800", "1920x1080"])
def test_the_editor_after_the_grid_opens_at_the_top_and_a_box_at_the_top_edge_is_saved(
        batch, served, browser, size):
    store, pool = batch
    page, errors = _start(browser, served, "ana", size)
    _one_canvas(page)
    page.get_by_text("Grid", exact=True).click()
    accept = page.get_by_role("button", name=re.compile(r"Accept the rest of this page"))
    accept.wait_for(timeout=30_000)
    settled(page)
    page.wait_for_function("[...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                           ".filter(i => i.complete && i.naturalWidth > 0).length >= 12",
                           timeout=30_000)
    # scroll down to the grid's bottom row and mark one there
    page.mouse.move(size[0] // 2, size[1] // 2)
    for _ in range(12):
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(100)
    marks = page.get_by_role("button", name=re.compile(r"^Mark wrong · #\d+$"))
    last = marks.last
    last.scroll_into_view_if_needed()
    marked = int(re.search(r"#(\d+)", last.inner_text()).group(1))
    last.click()
    page.get_by_role("button", name=f"✗ Wrong · #{marked}").wait_for(timeout=30_000)
    top = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTop")
    assert top > 300, top  # the page really was scrolled down
    page.keyboard.press("a")
    page.get_by_text(re.compile(r"Accepted 11 images as shown")).wait_for(timeout=30_000)
    _showing(page, marked)
    upper = _one_canvas(page)
    settled(page)
    page.wait_for_timeout(800)
    assert _in_view(page, upper), upper.bounding_box()
    accept_next = page.get_by_role("button", name="Accept & next")
    assert _in_view(page, accept_next), accept_next.bounding_box()
    assert page.locator('[data-testid="stProgress"]').first.bounding_box()["y"] >= 0
    page.screenshot(path=ARTIFACTS / f"review-after-grid-{size[0]}x{size[1]}.png")
    # a box from the image's very top edge down
    item = store.item(marked)
    bb = upper.bounding_box()
    scale = bb["width"] / item.width
    x1, x2 = bb["x"] + 0.3 * bb["width"], bb["x"] + 0.5 * bb["width"]
    y1, y2 = bb["y"] + 1, bb["y"] + 0.25 * bb["height"]
    before = len(store.annotations([marked]).get(marked, []))
    n = len(store.oracle_boxes([marked])[marked])
    page.get_by_text(f"BOXES ({n})").wait_for(timeout=30_000)
    page.mouse.move(x1, y1)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x1 + (x2 - x1) * k / 10, y1 + (y2 - y1) * k / 10)
    page.mouse.up()
    page.get_by_text(f"BOXES ({n + 1})").wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    page.keyboard.press("f")
    page.get_by_text(re.compile(rf"Saved #{marked}")).wait_for(timeout=30_000)
    assert before == 0
    saved = store.annotations([marked])[marked]
    assert len(saved) == n + 1
    drawn = min(saved, key=lambda a: a.box.y1)
    assert drawn.box.y1 <= 2 / scale + 1  # at the top edge, in image pixels
    assert abs(drawn.box.x1 - (x1 - bb["x"]) / scale) < 3 / scale + 1
    assert abs(drawn.box.y2 - (y2 - bb["y"]) / scale) < 3 / scale + 1
    assert errors == []


def test_a_closed_tab_frees_its_image_for_another_annotator_within_seconds(
        batch, served, browser):
    store, pool = batch
    ana, errors = _start(browser, served, "ana")
    _one_canvas(ana)
    _showing(ana, pool[0])
    settled(ana)
    assert store.holder(pool[0]) == "ana"
    ana.wait_for_timeout(1500)  # the tab's watcher has its data
    closed = time.monotonic()
    # closed as a person closes a tab: the page's unload handlers run (pagehide)
    ana.close(run_before_unload=True)
    while store.holder(pool[0]) is not None and time.monotonic() - closed < 10:
        time.sleep(0.2)
    freed = time.monotonic() - closed
    assert store.holder(pool[0]) is None and freed < 5, freed
    bo, errors_bo = _start(browser, served, "bo")
    _one_canvas(bo)
    _showing(bo, pool[0])  # bo gets the image ana left, the selection's first
    assert store.holder(pool[0]) == "bo"
    assert errors == [] and errors_bo == []


def test_without_its_closing_notice_a_tab_s_image_is_free_within_its_short_lease(
        batch, served, browser):
    store, pool = batch
    ana, _ = _start(browser, served, "ana")
    _one_canvas(ana)
    _showing(ana, pool[0])
    settled(ana)
    ana.evaluate("navigator.sendBeacon = () => true")  # the notice never leaves (a crash)
    closed = time.monotonic()
    ana.close(run_before_unload=True)
    time.sleep(2)
    assert store.holder(pool[0]) == "ana"  # the lease is still running
    while store.holder(pool[0]) is not None and time.monotonic() - closed < 60:
        time.sleep(0.5)
    assert store.holder(pool[0]) is None and time.monotonic() - closed <= 42


def _lapsed(store, item_id: int) -> None:
    """Wait until ``item_id``'s lease has run out (an idle tab no longer renews it)."""
    start = time.monotonic()
    while store.holder(item_id) is not None and time.monotonic() - start < 40:
        time.sleep(0.5)
    assert store.holder(item_id) is None


def test_an_open_tab_keeps_its_image_past_the_lease_without_rerunning_the_page(
        batch, served, browser):
    store, pool = batch
    page, errors = _start(browser, served, "ana")
    _one_canvas(page)
    _showing(page, pool[0])
    settled(page)
    # count the page's runs (full and fragment): the app's script state turns "running"
    page.evaluate("""() => {
      window.__alsRuns = 0;
      const app = document.querySelector('[data-testid="stApp"]');
      new MutationObserver(() => {
        if (app.getAttribute("data-test-script-state") === "running") window.__alsRuns++;
      }).observe(app, { attributes: true, attributeFilter: ["data-test-script-state"] });
    }""")
    start = time.monotonic()
    x = 300
    while time.monotonic() - start < 36:  # in use (no idle report) past the 30 s lease
        x = 600 - x
        page.mouse.move(x, 300)
        page.wait_for_timeout(2000)
    assert page.evaluate("window.__alsRuns") == 0  # three heartbeats, no rerun
    assert store.holder(pool[0]) == "ana"  # claimed 36 s ago for 30 s: renewed by them
    assert store.holder(pool[0], at=clock.monotonic() + 15) == "ana"
    page.keyboard.press("s")  # an action does run (the count would see a rerun)
    _showing(page, pool[1])
    assert page.evaluate("window.__alsRuns") > 0
    assert errors == []


@pytest.fixture
def served_idle(batch, monkeypatch):
    monkeypatch.setenv("ALS_IDLE_SECONDS", str(IDLE_S))
    yield from serve_app(batch[0].root)


def test_an_idle_tab_stops_the_clock_gives_the_image_back_and_takes_it_again(
        batch, served_idle, browser):
    store, pool = batch
    page, errors = _start(browser, served_idle, "ana")
    _one_canvas(page)
    _showing(page, pool[0])
    settled(page)
    opened = time.monotonic()
    page.mouse.move(300, 300)
    # no input: idle after 2 s, when the heartbeat stops renewing; the image is free
    # once its 30 s lease runs out
    away = page.get_by_text(
        re.compile(r"No input here for \d+ s: image #\d+ is no longer held"))
    away.wait_for(timeout=40_000)
    _lapsed(store, pool[0])
    _shots(page, "review-idle-released")
    page.mouse.move(320, 320)  # back
    page.get_by_text("Welcome back: your images are held for you again.").wait_for(
        timeout=30_000)
    assert store.holder(pool[0]) == "ana"
    page.wait_for_timeout(1200)
    page.mouse.move(330, 330)
    page.keyboard.press("a")  # accept as shown
    page.get_by_text(re.compile(rf"Saved #{pool[0]}")).wait_for(timeout=30_000)
    wall = time.monotonic() - opened
    review = next(r for r in store.reviews() if r["item_id"] == pool[0])
    assert wall > 12 and 0 < review["seconds"] < wall - 8, (review["seconds"], wall)
    # away again on the next image; back with a key straight away: the key is not lost
    _showing(page, pool[1])
    page.get_by_text(re.compile(rf"No input here for \d+ s: image #{pool[1]} is")).wait_for(
        timeout=40_000)
    page.keyboard.press("a")
    page.get_by_text(re.compile(rf"Saved #{pool[1]}")).wait_for(timeout=30_000)
    assert store.item(pool[1]).status == "labeled"
    assert errors == []


def test_a_skipped_image_is_opened_from_show_my_skipped_and_saved(batch, served, browser):
    store, pool = batch
    page, errors = _start(browser, served, "ana")
    _one_canvas(page)
    _showing(page, pool[0])
    settled(page)
    page.keyboard.press("s")
    _showing(page, pool[1])
    skipped = page.get_by_text("Show my skipped (1)")
    skipped.wait_for(timeout=30_000)
    assert store.skipped(store.selection(TAG).id, "ana") == [pool[0]]
    skipped.click()
    page.get_by_role("button", name=f"#{pool[0]}", exact=True).click()
    _showing(page, pool[0])
    page.get_by_text(re.compile(rf"Opened #{pool[0]}, which you skipped")).wait_for(
        timeout=30_000)
    upper = _one_canvas(page)
    settled(page)
    page.wait_for_timeout(500)
    assert _in_view(page, upper)  # the editor, above the list, scrolled into view
    _shots(page, "review-skipped-opened")
    page.keyboard.press("a")
    page.get_by_text(re.compile(rf"Saved #{pool[0]}")).wait_for(timeout=30_000)
    _showing(page, pool[1])  # the image that was open before comes back next
    assert store.item(pool[0]).status == "labeled"
    assert store.reviews(item_id=pool[0])[0]["author"] == "ana"
    assert store.skipped(store.selection(TAG).id, "ana") == []
    page.get_by_text("Show my skipped").wait_for(state="detached", timeout=30_000)
    assert errors == []


def test_an_image_taken_while_its_tab_was_idle_is_said_and_never_saved_over(
        batch, served_idle, browser):
    store, pool = batch
    ana, errors = _start(browser, served_idle, "ana")
    _one_canvas(ana)
    _showing(ana, pool[0])
    ana.get_by_text(re.compile(rf"No input here for \d+ s: image #{pool[0]} is")).wait_for(
        timeout=40_000)
    _lapsed(store, pool[0])
    bo, _ = _start(browser, served_idle, "bo")  # a colleague opens the batch meanwhile
    _one_canvas(bo)
    _showing(bo, pool[0])
    assert store.holder(pool[0]) == "bo"
    ana.mouse.move(300, 300)  # ana comes back
    ana.get_by_text(re.compile(rf"While you were away: bo has image #{pool[0]}")).wait_for(
        timeout=30_000)
    _shots(ana, "review-idle-taken", active=True)
    ana.mouse.move(310, 310)
    ana.keyboard.press("a")
    ana.get_by_text(re.compile(rf"Not saved: image #{pool[0]} is held by bo")).wait_for(
        timeout=30_000)
    assert store.item(pool[0]).status == "unlabeled" and store.reviews() == []
    assert store.holder(pool[0]) == "bo"
    assert errors == []
