"""Any number of classes on the Review page, in headless Chromium (Debian's, driven by
Playwright), on the digits demo with two more classes (12): ``/`` opens the class picker,
typing part of the 12th class's name and Enter picks it, a box drawn then is of that
class when saved. The chips show the keys, and key 1 is "one", never "zero"."""
import re
import shutil

import pytest

from al_core.types import Box, SelectionItem
from tests.test_browser import ARTIFACTS, page, served, one_canvas  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TAG = "twelve"
LONG_NAME = ("a-very-long-file-name-from-a-camera-export-" + "x" * 60 + "-frame-000017.png")


def build_twelve(store) -> dict:
    """The digits demo with ``pedestrian`` and ``wheelbarrow`` added (12 classes) and a
    selection of 4 pool images whose pre-labels are the truth, except: the first has
    three more boxes (at least 6 to delete), a long file name and a narrow box at the
    right edge (its chip); the model never saw the second (a note says its predictions
    are missing). Returns the
    selection's ``pool`` ids, the ``classes`` and the ``model_id``."""
    store.ensure_classes(["pedestrian", "wheelbarrow"])
    classes = store.classes()
    pool = store.query_pool()[:4]
    truth = store.oracle_boxes(pool)
    first = store.item(pool[0])
    src = store.image_path(first)
    shutil.move(src, src.with_name(LONG_NAME))
    store.db.execute("UPDATE items SET file = ? WHERE id = ?",
                     [str((src.parent / LONG_NAME).relative_to(store.images_dir)), first.id])
    w, h = first.width, first.height
    extra = [(classes[4].id, Box(2, 2, 30, 30)),
             (classes[5].id, Box(w - 40, h - 40, w - 2, h - 2)),
             (classes[6].id, Box(w - 14, h / 3, w - 2, h / 3 + 20))]  # at the right edge
    model_id = store.add_model(name="stand-in", arch="external", status="external")
    rows = [(i, b.class_id, b.box, 0.9) for i in pool if i != pool[1] for b in truth[i]]
    rows += [(pool[0], cid, box, 0.8) for cid, box in extra]
    store.add_predictions(model_id, rows)
    store.db["embeddings"].insert_all({"model_id": model_id, "item_id": i, "vector": b"\0"}
                                      for i in pool if i != pool[1])  # the model saw them
    store.add_selection(tag=TAG, round=1, strategy="uncertainty", config={}, seed=0,
                        model_id=model_id,
                        items=[SelectionItem(i, r, 1 - r / 10, False) for r, i in enumerate(pool)])
    return {"pool": pool, "classes": classes, "model_id": model_id}


@pytest.fixture
def twelve(demo_store):
    return demo_store, build_twelve(demo_store)


def editor_ready(page, n: int) -> None:
    """Image ``n`` of the selection open, its canvas drawn once and settled."""
    page.get_by_text(re.compile(rf"\b{n} / 4\b")).first.wait_for(timeout=30_000)
    one_canvas(page)
    page.get_by_text("BOXES (").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)


def test_the_12th_class_is_picked_by_typing_and_saved_on_a_box_drawn(twelve, served,  # noqa: F811
                                                                    page):
    store, t = twelve
    pool, classes = t["pool"], t["classes"]
    wheelbarrow = classes[11]
    assert len(classes) == 12 and wheelbarrow.name == "wheelbarrow"
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{served}/review?selection={TAG}&annotator=e2e")
    editor_ready(page, 1)
    # the keys as the chips say (the name, then its key): 0 is "zero", 1 is "one" (it
    # was "zero": the digits demo's trap)
    chips = page.locator('[class*="st-key-rv-pal-"] button')
    assert chips.first.inner_text().split() == ["zero", "0"]
    assert chips.nth(1).inner_text().split() == ["one", "1"]
    assert chips.count() == 10
    page.get_by_text("Number keys are the classes' own digits").wait_for(timeout=5_000)
    picker = page.locator(".st-key-rv-class-pick")
    box = picker.bounding_box()
    assert box["y"] + box["height"] < 800  # within the window, no scrolling
    ARTIFACTS.mkdir(exist_ok=True)

    page.keyboard.press("/")  # the picker, by its key
    page.wait_for_timeout(300)
    assert page.evaluate("document.activeElement.closest('.st-key-rv-class-pick') !== null")
    page.keyboard.type("wheelb")
    page.wait_for_timeout(500)
    page.screenshot(path=ARTIFACTS / "review-class-search-1280.png")
    page.keyboard.press("Enter")
    page.wait_for_function("[...document.querySelectorAll('.st-key-rv-class-pick input')]"
                           ".some(i => i.value === 'wheelbarrow')", timeout=10_000)
    page.wait_for_timeout(800)
    # the keys are the page's again (the picker let the focus go)
    assert page.evaluate("document.activeElement.closest('.st-key-rv-class-pick') === null")

    upper = page.locator("canvas.upper-canvas")
    bb = upper.bounding_box()
    item = store.item(pool[0])
    scale = bb["width"] / item.width
    x1, y1, x2, y2 = 40, 50, 90, 110  # image pixels: a box no pre-label is near
    page.mouse.move(bb["x"] + x1 * scale, bb["y"] + y1 * scale)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(bb["x"] + (x1 + (x2 - x1) * k / 10) * scale,
                        bb["y"] + (y1 + (y2 - y1) * k / 10) * scale)
    page.mouse.up()
    n_before = len(store.oracle_boxes([pool[0]])[pool[0]]) + 3
    page.get_by_text(f"BOXES ({n_before + 1})").wait_for(timeout=30_000)
    page.wait_for_timeout(800)
    page.keyboard.press("f")  # save and next
    editor_ready(page, 2)
    saved = store.annotations([pool[0]])[pool[0]]
    drawn = [a for a in saved if abs(a.box.x1 - x1) < 4 and abs(a.box.y2 - y2) < 4]
    assert [a.class_id for a in drawn] == [wheelbarrow.id]
    assert drawn[0].author == "e2e" and len(saved) == n_before + 1
    assert errors == []
