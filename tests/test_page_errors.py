"""What a page shows when something fails (ui/errors.py), headless with AppTest: a save
that meets a full or failing disk keeps the annotator's boxes with a readable message;
any unexpected error, in a page, a fragment or a button's callback, is one message and
a traceback in the project's logs/app.log; a 100,000-deep JSON upload is one line."""
import sqlite3

import pytest

import ui.review_nav
from al_core.store import Store
from tests.apptest import open_page
from ui.text import md
from tests.test_review_page import (TAG, draw, make_selection, open_review,  # noqa: F401
                                    project)  # a fixture


def _errors(at):
    return [e.value for e in at.error]


def _log(store):
    return (store.root / "logs" / "app.log").read_text(encoding="utf-8")


@pytest.mark.parametrize("error, said", [
    (sqlite3.OperationalError("disk I/O error"),
     f"the project's database could not be written ({md('disk I/O error')})"),
    (sqlite3.OperationalError("database or disk is full"),
     "the disk holding the project is full"),
    (sqlite3.OperationalError("database is locked"),
     "the project's database stayed locked by another writer (a long import or training) "
     "past the 10 s wait"),
    (OSError(28, "No space left on device"), "the disk holding the project is full")])
def test_a_save_that_cannot_be_written_keeps_the_boxes_to_save_again(project, monkeypatch,
                                                                      error, said):
    pool = make_selection(project)
    at = open_review(project)
    names = [c.name for c in project.classes()]
    draw(at, [(names[0], 10, 10, 40, 40), (names[2], 60, 60, 100, 100)])
    boxes = [dict(b) for b in at.session_state["rv_work"][pool[0]].boxes]
    assert len(boxes) == 2

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(ui.review_nav, "submit_review", fail)
    at.button(key="rv-save").click().run()
    assert not at.exception, at.exception
    assert _errors(at) == [f"Not saved: {said}. Your boxes are still here: save again when "
                           "that is fixed."]
    assert at.session_state["rv_item"] == pool[0]  # the same image, its edits kept
    work = at.session_state["rv_work"][pool[0]]
    assert work.boxes == boxes and work.dirty
    assert project.item(pool[0]).status == "unlabeled"
    monkeypatch.undo()  # the disk has room again: the same boxes save
    at.button(key="rv-save").click().run()
    assert not at.exception and _errors(at) == []
    assert len(project.annotations([pool[0]])[pool[0]]) == 2
    assert at.session_state["rv_item"] == pool[1]


def test_a_store_that_cannot_even_open_for_the_save_keeps_the_boxes(project, monkeypatch):
    pool = make_selection(project)
    at = open_review(project)
    draw(at, [(project.classes()[1].name, 10, 10, 40, 40)])

    class BrokenState:  # the save's own store (opened through ui.state) cannot open
        @staticmethod
        def store():
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ui.review_nav, "state", BrokenState)
    at.button(key="rv-accept").click().run()
    assert not at.exception, at.exception
    assert (f"Not saved: the project's database could not be written ({md('disk I/O error')})."
            " Your boxes are still here: save again when that is fixed.") in _errors(at)
    assert len(at.session_state["rv_work"][pool[0]].boxes) == 1


def test_an_unexpected_error_in_a_page_is_one_message_and_a_logged_traceback(project,
                                                                            monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom **bold** [link](http://example.com)")

    monkeypatch.setattr(Store, "count_items", boom)
    at = open_page("pages/images.py")
    assert not at.exception, at.exception
    log = project.root / "logs" / "app.log"
    said = md("boom **bold** [link](http://example.com)")
    assert _errors(at) == [f"Something went wrong in the Images page (RuntimeError: {said}); "
                           f"the details are in `{log}`. Reload the page to try again."]
    text = _log(project)
    assert "ERROR als.app: unexpected error in the Images page" in text
    assert "Traceback (most recent call last)" in text and "in boom" in text
    assert text.rstrip().endswith("RuntimeError: boom **bold** [link](http://example.com)")


def test_an_unexpected_error_in_the_editor_fragment_is_one_message(project, monkeypatch):
    make_selection(project)

    def boom(*args, **kwargs):
        raise KeyError("no such thing")

    monkeypatch.setattr(ui.review_editor, "_progress", boom)
    at = open_review(project)  # asserts no exception
    said = md("'no such thing'")
    assert any(e.startswith(f"Something went wrong in the review editor (KeyError: {said}); "
                            "the details are in ") for e in _errors(at))
    assert "KeyError: 'no such thing'" in _log(project)


def test_an_unexpected_error_in_a_callback_is_one_message_beside_the_image(project,
                                                                          monkeypatch):
    pool = make_selection(project)
    at = open_review(project)

    def boom(self, *args, **kwargs):
        raise ValueError("skips are broken")

    monkeypatch.setattr(Store, "skip", boom)
    at.button(key="rv-skip").click().run()
    assert not at.exception, at.exception
    assert _errors(at) == [
        "Something went wrong in skipping the image (ValueError: skips are broken); the "
        f"details are in `{project.root / 'logs' / 'app.log'}`. Reload the page to try again."]
    assert at.session_state["rv_item"] == pool[0]
    assert "ValueError: skips are broken" in _log(project)


def test_a_100000_deep_json_upload_is_refused_in_one_line(project):
    make_selection(project)
    at = open_review(project)
    deep = b"[" * 100_000 + b"]" * 100_000
    at.get("file_uploader")[0].set_value(("deep.json", deep, "application/json")).run()
    at.button(key="rv-upload-go").click().run()
    assert not at.exception, at.exception
    errors = _errors(at)
    assert len(errors) == 1 and errors[0].startswith("Not imported: ")
    assert "\n" not in errors[0] and len(errors[0]) < 400
    assert "deep" in errors[0].lower() or "nest" in errors[0].lower()
    assert [s.tag for s in project.selections()] == [TAG]


@pytest.mark.parametrize("name", ["x" * 300 + ".json", "a\nb.json"])
def test_an_upload_whose_browser_name_is_no_file_name_is_still_read(project, name):
    """The upload was written under the browser's file name: 300 characters gave
    ENAMETOOLONG, the generic error instead of the file's own problem. It is written
    under a fixed name; the message names the file as the browser did."""
    make_selection(project)
    at = open_review(project)
    at.get("file_uploader")[0].set_value((name, b"[1, 2]", "application/json")).run()
    at.button(key="rv-upload-go").click().run()
    assert not at.exception, at.exception
    errors = _errors(at)
    assert len(errors) == 1 and errors[0].startswith("Not imported: "), errors
    assert "upload.json" not in errors[0] and "Something went wrong" not in errors[0]
