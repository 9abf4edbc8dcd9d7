"""Class names already stored in a project, whatever they hold (``traffic  light`` with two
spaces, ``two\\nlines``), in the review editor, headless with AppTest: the image opens,
the canvas's echo of its own drawing changes nothing, the boxes save with their class and
Skip works. They used to crash the editor on every image holding such a box
(``st.rerun(scope="fragment")`` in a full-page run), and the reload reopened it. The
browser-facing check is tests/test_review_names_browser.py."""
import pytest

from al_core.store.rows import now
from al_core.types import Box, ClassInfo, SelectionItem
from tests.test_review_page import canvas_key, open_review

TAG = "odd-names"
ODD = ["traffic  light", "two\nlines"]


def add_odd_classes(store) -> list[int]:
    """Classes stored as they are, past any import rule (as a project from before it)."""
    return [store.db["classes"].insert({"name": n, "color": "#e6194b", "created": now()}).last_pk
            for n in ODD]


@pytest.fixture
def odd(demo_store, monkeypatch):
    """A selection of 3 pool images: a 0.9 ``traffic  light`` box on the first, a
    ``two\\nlines`` box on the second, one of each on the third."""
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    store = demo_store
    light, lines = add_odd_classes(store)
    pool = store.query_pool()[:3]
    model_id = store.add_model(name="m", arch="external", status="external")
    store.add_predictions(model_id, [
        (pool[0], light, Box(10, 10, 60, 60), 0.9), (pool[1], lines, Box(20, 20, 80, 90), 0.9),
        (pool[2], light, Box(5, 5, 30, 30), 0.9), (pool[2], lines, Box(40, 40, 90, 90), 0.9)])
    store.add_selection(tag=TAG, round=1, strategy="uncertainty", config={}, seed=0,
                        model_id=model_id,
                        items=[SelectionItem(i, r, 1 - r / 10, False) for r, i in enumerate(pool)])
    return store, pool, light, lines


def test_every_class_name_comes_back_from_the_canvas_as_its_own_class():
    from ui.canvas import chip_names, chip_text, parse_chip

    classes = [ClassInfo(k, n, "#e6194b") for k, n in enumerate([
        "traffic  light", "two\nlines", "cat", "cat 0.50", "traffic light", "   ", "x" * 300,
        "x" * 57 + "...", "tab\there", "bidi\u202eevil", "é", "e\u0301"], start=1)]
    names = chip_names(classes)
    assert names[1] == "traffic light (#1)" and names[5] == "traffic light (#5)"
    assert names[2] == "two\\nlines" and names[3] == "cat" and names[4] == "cat 0.50 (#4)"
    assert names[6] == "class #6" and names[10] == "bidi\\u202eevil"
    assert len(set(names.values())) == len(classes)
    for c in classes:
        for score in (None, 0.5, 0.0):
            text = chip_text(names[c.id], score)
            assert parse_chip(text, classes) == c.id
            # the canvas's text field may reflow it: a newline for a space, spaces doubled
            assert parse_chip(text.replace(" ", "\n"), classes) == c.id
            assert parse_chip(f"  {text.replace(' ', '  ')} ", classes) == c.id
    assert parse_chip("traffic  light", classes) is None  # ambiguous: it names no class
    assert parse_chip("dog", classes) is None


def test_a_stored_name_with_two_spaces_or_a_newline_is_shown_saved_and_skipped(odd):
    store, pool, light, lines = odd
    at = open_review(store)  # used to raise StreamlitInvalidLayoutContextError
    assert at.session_state["rv_item"] == pool[0]
    rows = [b.label for b in at.button if b.key and b.key.startswith("rv-focus-")]
    assert rows == ["traffic light"]
    assert at.selectbox(key="rv-class-pick").options[-2:] == ["traffic light", "two\\nlines"]
    _echo(at)  # the canvas sends back the drawing it was given, as a browser does
    assert not at.warning and at.session_state["rv_work"][pool[0]].rev == 0
    at.button(key="rv-accept").click().run()
    assert not at.exception, at.exception
    assert [a.class_id for a in store.annotations([pool[0]])[pool[0]]] == [light]
    assert store.reviews(item_id=pool[0])[0]["kept"] == 1  # unchanged: accepted as shown

    assert at.session_state["rv_item"] == pool[1]
    assert [b.label for b in at.button if b.key.startswith("rv-focus-")] == ["two\\\\nlines"]
    _echo(at)
    assert not at.warning
    at.button(key="rv-save").click().run()
    assert not at.exception
    assert [a.class_id for a in store.annotations([pool[1]])[pool[1]]] == [lines]

    assert at.session_state["rv_item"] == pool[2]
    _echo(at)
    at.button(key="rv-skip").click().run()
    assert not at.exception and store.item(pool[2]).status == "unlabeled"
    assert "Nothing left for you" in at.success[-1].value


def test_a_box_relabeled_on_the_canvas_to_a_stored_odd_name_takes_that_class(odd):
    store, pool, light, lines = odd
    at = open_review(store)
    raw = at.session_state["rv_initial"][canvas_key(at)]
    objects = [dict(o, label="two\\nlines") for o in raw["objects"]]  # as its chip reads
    at.session_state[canvas_key(at)] = {"drawing": {"raw": {"objects": objects}, "data": None},
                                        "backgroundFit": None}
    at.run()
    assert not at.exception and not at.warning
    assert [b["class_id"] for b in at.session_state["rv_work"][pool[0]].boxes] == [lines]


def test_a_refused_class_name_reaching_a_full_page_run_redraws_the_page(odd):
    """A name typed on the canvas that is no class arrives with a sidebar change (a
    full-page run): the box keeps its class, the canvas is redrawn, nothing raises."""
    store, pool, light, lines = odd
    at = open_review(store)
    raw = at.session_state["rv_initial"][canvas_key(at)]
    at.session_state[canvas_key(at)] = {
        "drawing": {"raw": {"objects": [dict(o, label="lorry") for o in raw["objects"]]},
                    "data": None}, "backgroundFit": None}
    at.slider[0].set_value(0.5).run()  # the sidebar's threshold: the whole page reruns
    assert not at.exception, at.exception
    w = at.session_state["rv_work"][pool[0]]
    assert [b["class_id"] for b in w.boxes] == [light] and w.rev == 1
    assert [x.value for x in at.warning] == [
        "that class name is not in the project: the box keeps its class"]


def _echo(at):
    """What the browser's canvas sends after it loads: its initial drawing, unchanged."""
    raw = at.session_state["rv_initial"][canvas_key(at)]
    at.session_state[canvas_key(at)] = {"drawing": {"raw": raw, "data": None},
                                        "backgroundFit": None}
    at.run()
    assert not at.exception, at.exception


def test_a_thumbnail_chip_shows_a_stored_odd_name_on_one_line(monkeypatch):
    """The Images page's and the grid's thumbnails: a newline in a stored class name used
    to break the chip into two lines over the box."""
    from PIL import Image, ImageDraw

    from al_core.types import LabeledBox
    from ui.draw import draw_boxes

    written = []
    real = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text",
                        lambda self, xy, text, *a, **k: written.append(text) or
                        real(self, xy, text, *a, **k))
    classes = [ClassInfo(1, "two\nlines", "#e6194b"), ClassInfo(2, "\x1b[31mred", "#3cb44b")]
    draw_boxes(Image.new("RGB", (100, 100)), [LabeledBox(1, Box(10, 10, 50, 50)),
                                              LabeledBox(2, Box(50, 50, 90, 90))],
               classes, scores=[0.9, None])
    assert written == ["\\x1b[31mred", "two\\nlines 0.90"]
