"""User text is shown as text (issue 24, kind 4), in headless Chromium: one hostile string
planted in every field a person or a file fills (class, selection, model and project
names, who decided and why, a comparison's reason, an annotator, an imported file name,
job messages and errors), then every page visited. Nothing it holds may become an
element (an image, a link, bold text, a list row) or a request that leaves the machine,
and it must read literally. Screenshots (1280x800, each page's top and where its last
expander opened) land in tests/artifacts/escape-*.png."""
import re
import shutil
from urllib.parse import quote, urlparse

import pytest
from PIL import Image

from al_core.names import printable
from tests.test_browser import ARTIFACTS, chromium_page, serve_app
from ui.text import ZERO_WIDTH

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OUTSIDE = "203.0.113.9"  # TEST-NET-3: never reached (every request to it is aborted)
HOSTILE = (f"x`y ![x](http://{OUTSIDE}/x.png) <img src=http://{OUTSIDE}/y.png> \n"
           f"- **#99 fake row** [link](http://{OUTSIDE}/) :material/home: $x^2$")
# what may not hold a slash or be longer than a person's name holds the same tricks
FILE_NAME = "f`g ![f](f.png) **#98 fake file** <br> ~~gone~~.png"
PROJECT_DIR = "p`q **#97 fake dir** ![d](d.png)"
ANNOTATOR = f"a`n ![a](http://{OUTSIDE}/a.png) **#96 fake**"
FORGED = ("#99 fake row", "#98 fake file", "#97 fake dir", "#96 fake")


def _plant(store) -> int:
    """HOSTILE in every field of a small project; returns the imported image's id."""
    from al_core.decide.compare import parse_compare_config
    from al_core.decide.comparison import compare_models
    from al_core.decide.promotion import carry_out, roll_back
    from al_core.formats.coco_import import import_folder
    from al_core.simulation.demo import label_from_oracle_at_random
    from al_core.training.split import split_project
    from al_core.types import SelectionItem
    from tests.datasets import add_model_from_labels
    from tests.test_compare import DATALOOP

    label_from_oracle_at_random(store, 16, seed=0)
    split_project(store, seed=0)
    first = add_model_from_labels(store, "first", keep=0.95, seed=1, status="trained")
    store.update_model(first, checkpoint_path="models/model-1.pt")
    store.apply_decision(first, "update_model", decided_by="lead", why="first model")
    second = add_model_from_labels(store, "second", keep=0.6, seed=2, status="trained")
    store.update_model(second, checkpoint_path="models/model-2.pt")
    compare_models(store, second, first, parse_compare_config(DATALOOP), raw_config=DATALOOP)
    comparison = store.comparisons()[0]["id"]
    carry_out(store, comparison, decided_by="lead", override=True, why="override")
    roll_back(store, first, decided_by="lead", why="rollback")  # first is active again

    folder = store.root.parent / "incoming"  # an image whose file name is hostile
    folder.mkdir()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(folder / FILE_NAME)
    import_folder(store, folder)
    imported = next(i.id for i in store.items() if i.file.endswith(FILE_NAME))
    pool = [imported] + [i for i in store.query_pool() if i != imported][:5]
    truth = store.oracle_boxes(pool)
    store.add_predictions(first, [(i, b.class_id, b.box, 0.8) for i in pool
                                  for b in truth.get(i, [])])
    store.add_selection(tag="picked", round=1, strategy="uncertainty", config={}, seed=0,
                        model_id=first, items=[SelectionItem(i, r, 1 - r / 10, False)
                                               for r, i in enumerate(pool)])
    store.add_job("retrain", {"model_id": first})  # queued, no process: shown, never reaped
    failed = store.add_job("query", {})
    store.update_job(failed, status="failed", error=HOSTILE)
    db = store.db  # the library's name rules would refuse these: written around them
    with store.write():
        db.execute("UPDATE classes SET name = ? WHERE id = (SELECT min(id) FROM classes)",
                   [HOSTILE])
        db.execute("UPDATE models SET name = ?", [HOSTILE])
        db.execute("UPDATE selections SET tag = ?", [HOSTILE])
        db.execute("UPDATE tags SET tag = ? WHERE tag = 'picked'", [HOSTILE])
        db.execute("UPDATE model_decisions SET decided_by = ?, why = ?", [HOSTILE, HOSTILE])
        db.execute("UPDATE comparisons SET reason = ?, decided_by = ?", [HOSTILE, HOSTILE])
        db.execute("UPDATE jobs SET message = ? WHERE status = 'queued'", [HOSTILE])
        db.execute("UPDATE reviews SET author = ?", [HOSTILE])
    return imported


@pytest.fixture
def hostile(demo_store, tmp_path):
    """A copy of the demo project in a folder with a hostile name, HOSTILE planted."""
    from al_core.store import Store

    path = tmp_path / PROJECT_DIR
    shutil.copytree(demo_store.root, path)
    with Store(path) as store:
        imported = _plant(store)
    return path, imported


@pytest.fixture
def served(hostile):
    yield from serve_app(hostile[0])


@pytest.fixture
def page():
    yield from chromium_page(1280, 800)


def _rendered(page) -> None:
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        timeout=30_000)
    page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0",
                           timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)


def _open_everything(page) -> None:
    """Every expander open and every tab shown once (their labels and bodies drawn)."""
    closed = page.locator('[data-testid="stExpander"] details:not([open]) > summary')
    for _ in range(20):
        if not closed.count():
            break
        closed.first.click()
    for tab in page.get_by_role("tab").all():
        tab.click()
    _rendered(page)


def _made_by_the_string(page) -> list[str]:
    """The elements the hostile strings would have made, had they been read as Markdown."""
    found = []
    for selector in (f'img[src*="{OUTSIDE}"]', 'img[src$="f.png"]', 'img[src$="d.png"]',
                     f'a[href*="{OUTSIDE}"]', ".katex", 'span:text-is("home")', "del"):
        found += [f"{selector}: {page.locator(selector).first.evaluate('e => e.outerHTML')}"
                  ] if page.locator(selector).count() else []
    for tag in ("strong", "em", "li"):
        for text in page.locator(tag).all_inner_texts():
            if any(text.strip().startswith(mark) for mark in FORGED):
                found.append(f"<{tag}>{text}</{tag}>")
    return found


def _visible_text(page) -> str:
    return page.locator("body").inner_text().replace(ZERO_WIDTH, "")


def test_user_text_is_shown_as_text_on_every_page(hostile, served, page):
    from ui.chrome import PAGES

    _, imported = hostile
    ARTIFACTS.mkdir(exist_ok=True)
    left = []

    def stay_local(route) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and \
                url.hostname not in ("localhost", "127.0.0.1", "::1"):
            left.append(f"{route.request.url} (from {page.url})")
            route.abort()
        else:
            route.continue_()

    page.context.route("**/*", stay_local)
    literal = printable(HOSTILE, None)  # its newline reads as the two characters \n
    shown_on = {}
    for k, (_, title, _, url_path) in enumerate(PAGES):
        page.goto(f"{served}/{url_path}" if k else served)  # the first is the app's root
        _rendered(page)
        if url_path == "review":  # who is reviewing, asked once
            page.get_by_label("Your name").fill(ANNOTATOR)
            page.get_by_role("button", name="Start reviewing").click()
            page.locator("canvas.upper-canvas").first.wait_for(timeout=30_000)
            _rendered(page)
        if url_path == "images":
            page.get_by_text("A model's predictions").click()
            _rendered(page)
        page.screenshot(path=ARTIFACTS / f"escape-{url_path}.png")
        _open_everything(page)
        assert page.locator('[data-testid="stException"]').count() == 0, title
        assert _made_by_the_string(page) == [], title
        shown_on[title] = literal in _visible_text(page)
        page.screenshot(path=ARTIFACTS / f"escape-{url_path}-opened.png")  # the last opened
        if url_path == "review":
            text = _visible_text(page)
            assert FILE_NAME in text and ANNOTATOR in text  # the editor's caption, sidebar
    assert not left, "requests that left localhost:\n" + "\n".join(left)
    # where each page shows it in Markdown: the sidebar's model name is cut by its width
    assert {t for t, seen in shown_on.items() if seen} >= {
        "Project", "Models", "Compare", "Query", "Review"}, shown_on
    # the imported image opened on its own, by a link that names the annotator
    page.goto(f"{served}/review?item={imported}&annotator={quote(ANNOTATOR)}")
    page.locator("canvas.upper-canvas").first.wait_for(timeout=30_000)
    _rendered(page)
    assert _made_by_the_string(page) == [] and FILE_NAME in _visible_text(page)
    assert re.search(r"#\d+ f`g", _visible_text(page))
