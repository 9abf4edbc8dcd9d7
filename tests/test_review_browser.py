"""The Review page as an annotator meets it, in headless Chromium (Debian's, driven by
Playwright): draw a missed box with the mouse, fix a class, save with the keyboard, accept
the next image with its key, accept a grid page, and check the database. The actions it
takes per image are the annotator-flow counts quoted in BENCHMARKS.md."""
import re

import pytest

from al_core.simulation.demo import DIGIT_NAMES
from al_core.types import Box, SelectionItem
from tests.test_browser import ARTIFACTS, page, served  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TAG = "al-iteration-1"


@pytest.fixture
def reviewable(demo_store):
    """A query round's selection of 8 pool images whose pre-labels are the ground truth
    (a model that is right), except: image 0 misses its first object, image 1 has its first
    box in the wrong class."""
    store = demo_store
    pool = store.query_pool()[:8]
    truth = store.oracle_boxes(pool)
    classes = [c.id for c in store.classes()]
    model_id = store.add_model(name="stand-in", arch="external", status="external")
    rows = []
    for k, i in enumerate(pool):
        for j, b in enumerate(truth[i]):
            if k == 0 and j == 0:
                continue
            cls = classes[(classes.index(b.class_id) + 1) % len(classes)] \
                if k == 1 and j == 0 else b.class_id
            rows.append((i, cls, b.box, 0.9))
    store.add_predictions(model_id, rows)
    store.add_selection(tag=TAG, round=1, strategy="uncertainty", config={}, seed=0,
                        model_id=model_id,
                        items=[SelectionItem(i, r, 1 - r / 10, False) for r, i in enumerate(pool)])
    return store, pool, truth


def _progress(page, n):
    page.get_by_text(re.compile(rf"{n} / 8\b")).first.wait_for(timeout=30_000)


def _boxes_listed(page, n):
    page.get_by_text(f"BOXES ({n})").wait_for(timeout=30_000)


def test_an_annotator_fixes_a_batch_with_mouse_and_keys(reviewable, served, page):  # noqa: F811
    store, pool, truth = reviewable
    ARTIFACTS.mkdir(exist_ok=True)
    errors = []  # the browser side's own errors (once: a blank page, "'setIn' cannot be
    page.on("pageerror", lambda e: errors.append(str(e)))  # called on an ElementNode")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{served}/review?selection={TAG}")
    page.get_by_label("Your name").fill("e2e")
    page.get_by_role("button", name="Start reviewing").click()
    _progress(page, 1)
    upper = page.locator("canvas.upper-canvas")
    # the first draw may size the canvas before the page has reported its viewport; the
    # resized canvas replaces it (a new component key), so wait until one is left
    upper.first.wait_for(timeout=30_000)
    for _ in range(60):  # (in the component's shadow root: only the locator sees it)
        if upper.count() == 1:
            break
        page.wait_for_timeout(500)
    upper.wait_for(timeout=1_000)
    page.wait_for_timeout(800)
    n0 = len(truth[pool[0]]) - 1
    _boxes_listed(page, n0)
    page.screenshot(path=ARTIFACTS / "review-1280.png", full_page=True)

    # image 0: the model missed an object: pick its class with its number key, drag it
    missed = truth[pool[0]][0]
    classes = store.classes()
    _pick_class(page, classes, missed.class_id)
    page.wait_for_timeout(600)
    bb = upper.bounding_box()
    item = store.item(pool[0])
    scale = bb["width"] / item.width
    x1, y1, x2, y2 = (v * scale for v in missed.box.as_list())
    page.mouse.move(bb["x"] + x1, bb["y"] + y1)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(bb["x"] + x1 + (x2 - x1) * k / 10, bb["y"] + y1 + (y2 - y1) * k / 10)
    page.mouse.up()
    _boxes_listed(page, n0 + 1)
    # a second box right after the first (once made the canvas and the list fight:
    # the count flipped and a box was lost): it stays, then its row's delete removes it
    sx, sy = bb["x"] + 6, bb["y"] + bb["height"] - 60
    page.mouse.move(sx, sy)
    page.mouse.down()
    for k in range(1, 8):
        page.mouse.move(sx + 6 * k, sy + 6 * k)
    page.mouse.up()
    _boxes_listed(page, n0 + 2)
    page.wait_for_timeout(1500)
    assert page.get_by_text(f"BOXES ({n0 + 2})").is_visible()
    rows = page.locator(f'[class*="st-key-rv-del-{pool[0]}-"][data-stale="false"]')
    rows.last.locator("button").first.click()
    _boxes_listed(page, n0 + 1)
    page.wait_for_timeout(300)
    page.keyboard.press("f")  # save and next
    _progress(page, 2)

    # image 1: one wrong class: click its row to highlight the box, press the right
    # class's number key (2 actions), save
    wrong = truth[pool[1]][0]
    right = [c.id for c in classes].index(wrong.class_id)
    _boxes_listed(page, len(truth[pool[1]]))
    page.locator(f'[class*="st-key-rv-focus-{pool[1]}-"][data-stale="false"] button').first.click()
    page.wait_for_timeout(800)
    _pick_class(page, classes, classes[right].id)
    page.wait_for_timeout(800)
    page.keyboard.press("f")
    _progress(page, 3)

    # image 2: the keys the canvas cannot take itself: E edit mode, click a box, Delete,
    # then Z undoes it and N returns to drawing; its pre-labels are right: A accepts them
    n2 = len(truth[pool[2]])
    _boxes_listed(page, n2)
    page.wait_for_timeout(500)
    edit = page.get_by_role("button", name="Edit")
    page.keyboard.press("e")
    page.wait_for_timeout(300)
    assert edit.get_attribute("aria-pressed") == "true"
    b = truth[pool[2]][0].box
    bb = upper.bounding_box()
    s = bb["width"] / store.item(pool[2]).width
    page.mouse.click(bb["x"] + (b.x1 + b.x2) / 2 * s, bb["y"] + (b.y1 + b.y2) / 2 * s)
    page.wait_for_timeout(400)
    page.keyboard.press("Delete")
    _boxes_listed(page, n2 - 1)
    page.keyboard.press("z")
    _boxes_listed(page, n2)
    page.keyboard.press("n")
    page.wait_for_timeout(300)
    assert edit.get_attribute("aria-pressed") == "false"
    page.keyboard.press("a")
    _progress(page, 4)
    page.wait_for_timeout(500)
    page.screenshot(path=ARTIFACTS / "review-after-3.png", full_page=True)

    # the grid: accept a page of thumbnails
    page.get_by_text("Grid", exact=True).click()
    accept = page.get_by_role("button", name=re.compile(r"Accept the rest of this page"))
    accept.wait_for(timeout=30_000)
    page.screenshot(path=ARTIFACTS / "review-grid.png", full_page=True)
    accept.click()
    page.get_by_text(re.compile(r"Accepted \d+ images as shown")).wait_for(timeout=30_000)

    reviews = {r["item_id"]: r for r in store.reviews()}
    r0, r1, r2 = (reviews[pool[k]] for k in range(3))
    assert (r0["added"], r0["kept"], r0["author"]) == (1, n0, "e2e")
    assert (r1["relabeled"], r1["added"], r1["deleted"]) == (1, 0, 0)
    assert (r2["action"], r2["kept"]) == ("accept", len(truth[pool[2]]))
    drawn = store.annotations([pool[0]])[pool[0]]
    best = max(drawn, key=lambda a: _iou(a.box, missed.box))
    assert best.class_id == missed.class_id and _iou(best.box, missed.box) > 0.7
    assert [a.class_id for a in store.annotations([pool[1]])[pool[1]]] == \
        [b.class_id for b in truth[pool[1]]]
    assert len(reviews) == 8  # the grid took the other five
    assert all(store.item(i).split in ("train", "val") for i in pool)
    assert errors == []


def _pick_class(page, classes, class_id: int) -> None:
    """The class for new boxes, and for the highlighted box: on the digits demo a class's
    number key is the digit it names (ui.review_palette), ``zero`` 0."""
    name = next(c.name for c in classes if c.id == class_id)
    page.keyboard.press(str(DIGIT_NAMES.index(name)))


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return w * h / (a.area + b.area - w * h)
