"""Class names already stored in a project whatever they hold (``traffic  light``,
``two\\nlines``), in the Review page's editor in headless Chromium (Debian's, driven by
Playwright). Each image holding such a box used to fail with a Streamlit exception
instead of the editor (``st.rerun(scope="fragment")`` in a full-page run: the canvas
sent its drawing back and the chip text no longer named the class), with no Skip, and a
reload reopened the same image. Now the image shows, saves, reloads and skips, and a
box drawn on it survives hiding and showing the boxes."""
import re

import pytest

from tests.test_browser import ARTIFACTS, page, served, one_canvas  # noqa: F401 - fixtures
from tests.test_review_names import TAG, odd  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _progress(page, n):  # noqa: F811
    page.get_by_text(re.compile(rf"{n} / 3\b")).first.wait_for(timeout=30_000)


def _editor_ready(page):  # noqa: F811
    """The canvas drawn once (a first draw may be replaced when the viewport is known)
    and its echo of the drawing back to the server handled."""
    one_canvas(page)
    page.get_by_text("BOXES (", exact=False).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)


def _no_failure(page, errors):  # noqa: F811
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("not in the project").count() == 0
    assert errors == []


def test_stored_names_with_two_spaces_or_a_newline_show_save_and_skip(odd, served,  # noqa: F811
                                                                     page):
    store, pool, light, lines = odd
    ARTIFACTS.mkdir(exist_ok=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{served}/review?selection={TAG}&annotator=%20e2e%20")  # spaces: trimmed
    _progress(page, 1)
    _editor_ready(page)
    _no_failure(page, errors)
    page.get_by_text("BOXES (1)").wait_for(timeout=5_000)
    row = page.locator('[class*="st-key-rv-focus-"][data-stale="false"] button').first
    assert row.inner_text() == "traffic light"
    page.screenshot(path=ARTIFACTS / "review-odd-names-1280.png", full_page=True)
    page.keyboard.press("a")  # accept as shown
    _progress(page, 2)
    _editor_ready(page)
    _no_failure(page, errors)
    assert store.reviews(item_id=pool[0])[0]["author"] == "e2e"
    assert [a.class_id for a in store.annotations([pool[0]])[pool[0]]] == [light]

    page.reload()  # it used to reopen the failing image: now it reopens the editor
    _progress(page, 2)
    _editor_ready(page)
    _no_failure(page, errors)
    row = page.locator('[class*="st-key-rv-focus-"][data-stale="false"] button').first
    assert row.inner_text() == "two\\nlines"
    page.screenshot(path=ARTIFACTS / "review-odd-names-2.png", full_page=True)
    page.keyboard.press("f")  # save and next
    _progress(page, 3)
    _editor_ready(page)
    _no_failure(page, errors)
    assert [a.class_id for a in store.annotations([pool[1]])[pool[1]]] == [lines]
    page.get_by_text("BOXES (2)").wait_for(timeout=5_000)

    # a box drawn on the canvas survives hiding and showing the boxes (H, H): the canvas
    # used to reload its first drawing under its old key and send it back, dropping it
    upper = page.locator("canvas.upper-canvas")
    bb = upper.bounding_box()
    sx, sy = bb["x"] + bb["width"] * 0.6, bb["y"] + bb["height"] * 0.1
    page.mouse.move(sx, sy)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(sx + 6 * k, sy + 6 * k)
    page.mouse.up()
    page.get_by_text("BOXES (3)").wait_for(timeout=10_000)
    page.keyboard.press("h")
    page.get_by_text("Boxes hidden (H shows them).").wait_for(timeout=10_000)
    page.keyboard.press("h")
    _editor_ready(page)
    page.wait_for_timeout(1500)
    assert page.get_by_text("BOXES (3)").is_visible()
    _no_failure(page, errors)

    page.keyboard.press("s")  # skip the third
    page.get_by_text(re.compile("Nothing left for you")).wait_for(timeout=30_000)
    _no_failure(page, errors)
    assert store.item(pool[2]).status == "unlabeled"
    assert sorted(r["item_id"] for r in store.reviews()) == sorted(pool[:2])
