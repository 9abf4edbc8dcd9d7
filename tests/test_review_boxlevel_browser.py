"""Box-level review in headless Chromium (Debian's, via Playwright): the annotator turns
it on in the sidebar, the sure box leaves the canvas for the picture (drawn faint), A
saves it marked auto-accepted, and O reopens the next image's sure box for editing."""
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ui.draw import DASH_PX
from tests.test_browser import ARTIFACTS, chromium_page, serve_app
from tests.test_review_boxlevel import ACCEPTED, TAG, box_level_project

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def setup(demo_store):
    made = box_level_project(demo_store)
    yield demo_store, made

@pytest.fixture
def served(setup):
    yield from serve_app(setup[0].root)


@pytest.fixture
def page():
    yield from chromium_page(1280, 800)


def _dashes(page, shot: Path, box) -> float:
    """How dashed the box's top edge looks in the browser: of the rows within 3 px of it,
    the strongest periodicity of box-level review's dashes (``DASH_PX`` on, as much off):
    the autocorrelation of the row's difference from the image 6 px above at a lag of
    one period minus that at half a period. About 0 for noise or a solid line; near 2
    for clean dashes."""
    upper = page.locator("canvas.upper-canvas").last
    upper.wait_for(state="visible", timeout=30_000)
    bbox = upper.bounding_box()
    page.screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB"), float)
    s = bbox["width"] / 160
    y = round(bbox["y"] + box.y1 * s)
    xs = slice(round(bbox["x"] + box.x1 * s) + 4, round(bbox["x"] + box.x2 * s) - 4)
    best = -2.0
    for row in range(y - 3, y + 4):
        d = np.abs(pixels[row, xs] - pixels[y - 6, xs]).max(axis=1)
        d = (d - d.mean()) / (d.std() + 1e-9)
        corr = [float(np.mean(d[lag:] * d[:-lag])) for lag in (DASH_PX, 2 * DASH_PX)]
        best = max(best, corr[1] - corr[0])
    return best


def test_box_level_review_in_the_browser(setup, served, page):
    store, (_, _, picked, truth) = setup
    ARTIFACTS.mkdir(exist_ok=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{served}/review?selection={TAG}&annotator=e2e")
    page.get_by_text(f"BOXES ({len(truth[picked[0]]) + 1})").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    solid = _dashes(page, ARTIFACTS / "boxlevel-off.png", ACCEPTED)
    page.locator("[data-testid='stSidebar']").get_by_text("Box-level review").click()
    page.get_by_text("ACCEPTED WITHOUT ASKING (1)").wait_for(timeout=30_000)
    page.get_by_text(f"BOXES ({len(truth[picked[0]])})").wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    dashed = _dashes(page, ARTIFACTS / "boxlevel-on.png", ACCEPTED)
    # the sure box is still drawn (on the picture, not the canvas): dashed where it was solid
    assert solid < 0.6 < 1.0 < dashed, (solid, dashed)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("a")
    page.get_by_text(re.compile(r"Saved #\d+: .*1 accepted without asking")).wait_for(
        timeout=30_000)
    first = picked[0]
    assert [a.box for a in store.annotations([first])[first]
            if a.id in store.auto_accepted_ids([first])] == [ACCEPTED]
    # the next image: O reopens its sure box, which joins the boxes to decide on
    page.get_by_text(f"BOXES ({len(truth[picked[1]])})").wait_for(timeout=30_000)
    page.keyboard.press("o")
    page.get_by_text("Reopened 1 accepted box").wait_for(timeout=30_000)
    page.get_by_text(f"BOXES ({len(truth[picked[1]]) + 1})").wait_for(timeout=30_000)
    page.get_by_text("ACCEPTED WITHOUT ASKING (0)").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "boxlevel-reopened.png"))
    assert not errors, errors
