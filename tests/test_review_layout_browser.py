"""The Review editor holds still, in headless Chromium (Debian's, driven by Playwright), on
the twelve-class project of tests/test_review_palette_browser.py:

- exactly one canvas at every moment while a box is relabeled and deleted in quick
  cycles (a second, broken canvas used to show under the first: Streamlit kept the
  canvas of the old key until the run ended; ui.slots), and no box-list row kept twice;
- the canvas's top does not move from image to image, at 1280x800 and 1920x1080: the
  header stays one line (a long file name ends in an ellipsis, the whole line on hover)
  and the notes (missing predictions) sit in the side panel, not above the image;
- no tooltip on the box list's rows, no focus frame round the page after keys.
"""
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.test_browser import ARTIFACTS, page, served, settled  # noqa: F401 - fixtures
from tests.test_review_palette_browser import (  # noqa: F401 - twelve: a fixture
    LONG_NAME, TAG, editor_ready, twelve)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# counts, on every animation frame, the canvases (their Fabric roots, in the components'
# shadow roots) and the box-list buttons Streamlit keeps from a replaced run
WATCH = """
window.__seen = {canvases: 0, retainedRows: 0};
const tick = () => {
  let n = 0;
  for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
    if (host.shadowRoot) n += host.shadowRoot.querySelectorAll('.dc-root').length;
  }
  const rows = document.querySelectorAll(
    '[data-retained] [class*="st-key-rv-focus-"], [data-retained][class*="st-key-rv-focus-"]');
  window.__seen.canvases = Math.max(window.__seen.canvases, n);
  window.__seen.retainedRows = Math.max(window.__seen.retainedRows, rows.length);
  requestAnimationFrame(tick);
};
requestAnimationFrame(tick);
"""


def _seen(page) -> dict:
    seen = page.evaluate("window.__seen")
    page.evaluate("window.__seen = {canvases: 0, retainedRows: 0}")
    return seen


def _canvases_now(page) -> int:
    return page.locator("canvas.upper-canvas").count()


def test_relabel_and_delete_cycles_keep_exactly_one_canvas(twelve, served, page):  # noqa: F811
    store, t = twelve
    n = len(store.oracle_boxes([t["pool"][0]])[t["pool"][0]]) + 3  # image 1's boxes
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(WATCH)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{served}/review?selection={TAG}&annotator=e2e")
    editor_ready(page, 1)
    assert _seen(page)["canvases"] == 1  # the first draw (resized once) included
    rows = page.locator('[class*="st-key-rv-focus-"][data-stale="false"] button')
    picker = page.locator('[class*="st-key-rv-cls-"][data-stale="false"]')
    deletes = page.locator('[class*="st-key-rv-del-"][data-stale="false"] button')
    for cycle in range(4):  # highlight, relabel with a key, delete: each as soon as the
        settled(page)  # last one has landed (a click on a list a run is replacing can
        rows.first.click()  # reach an older revision's row, which ignores it)
        picker.wait_for(timeout=10_000)  # highlighted: its row holds the class picker
        page.keyboard.press("2")
        picker.wait_for(state="detached", timeout=10_000)  # relabeled
        settled(page)
        deletes.first.click()
        try:
            page.get_by_text(f"BOXES ({n - cycle - 1})").wait_for(timeout=10_000)
        except PlaywrightTimeout:  # the click reached a row a run was replacing, which
            settled(page)  # ignores it (a known problem: the user clicks again); a
            assert page.get_by_text(f"BOXES ({n - cycle})").count()  # slow delete would
            deletes.first.click()  # show here, and is not clicked twice
            page.get_by_text(f"BOXES ({n - cycle - 1})").wait_for(timeout=30_000)
        page.wait_for_timeout(300)
        seen = _seen(page)
        assert seen["canvases"] == 1, f"cycle {cycle}: {seen['canvases']} canvases at once"
        assert seen["retainedRows"] == 0, f"cycle {cycle}: box-list rows kept twice"
        assert _canvases_now(page) == 1
    page.wait_for_timeout(1500)
    assert _seen(page)["canvases"] == 1 and _canvases_now(page) == 1
    assert errors == []


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_the_image_holds_still_and_notes_sit_beside_it(twelve, served, page, size):  # noqa: F811
    store, t = twelve
    width, height = size
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{served}/review?selection={TAG}&annotator=e2e")
    tops = []
    for n in (1, 2, 3):
        editor_ready(page, n)
        canvas = page.locator("canvas.upper-canvas").bounding_box()
        tops.append(round(canvas["y"]))
        header = page.locator('[data-testid="stMarkdownContainer"]').filter(
            has_text=f"#{store.item(t['pool'][n - 1]).id} ").first
        box = header.bounding_box()
        assert box["height"] < 32, f"image {n}: the header wraps ({box['height']} px)"
        assert box["y"] + box["height"] <= canvas["y"]
        if n == 1:  # the long file name: cut with an ellipsis, one line
            assert header.evaluate("e => e.scrollWidth > e.clientWidth || "
                                   "[...e.querySelectorAll('*')].some(c => "
                                   "c.scrollWidth > c.clientWidth)")
            assert LONG_NAME in header.evaluate("e => e.closest('[title]').title")  # hover
            # no tooltip on the box list's rows
            page.locator('[class*="st-key-rv-focus-"][data-stale="false"] button').first.hover()
            page.wait_for_timeout(1200)
            assert page.locator('[data-testid="stTooltipContent"]').count() == 0
        if n == 2:  # the model never saw it: the note is in the side panel
            note = page.get_by_text("predictions are missing").first
            note.wait_for(timeout=10_000)
            assert note.bounding_box()["x"] > canvas["x"] + canvas["width"]
        page.screenshot(path=ARTIFACTS / f"review-layout-{width}-{n}.png")
        page.keyboard.press("a")  # accept as shown: the next image
    assert max(tops) - min(tops) <= 1, f"the canvas moved between images: {tops}"
    # keys used all along: nothing frames the page (Streamlit focuses its main area)
    framed = page.evaluate("""() => {
      const e = document.activeElement, s = getComputedStyle(e);
      const before = getComputedStyle(e, '::before');
      return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
        || (before.display !== 'none' && before.content !== 'none'
            && parseFloat(before.borderTopWidth) > 0);
    }""")
    assert not framed
