"""Box-level review on the Review page, headless with AppTest (the canvas is simulated as
in test_review_page): the accepted pre-labels stay off the canvas, drawn faint on its
background, the O key reopens them, and a save marks them auto-accepted."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from al_core.types import Box, LabeledBox, SelectionItem
from tests.apptest import read
from tests.test_review_page import open_review

TAG = "al-iteration-1"
ACCEPTED = Box(100, 100, 150, 150)  # the sure box every selection image gets


def box_level_project(store, *, n=4):
    """8 pool images labeled and made validation images, each with 3 boxes of class
    ``zero`` that an external model finds exactly at 0.95 (24 right boxes: class zero's
    threshold is 0.95; no other class has one); a selection of ``n`` more pool images
    whose pre-labels are their true boxes at 0.6 (asked about) plus one ``zero`` box at
    ``ACCEPTED`` scoring 0.97 (accepted without asking)."""
    zero = store.classes()[0].id
    pool = store.query_pool()
    val, picked = pool[:8], pool[8:8 + n]
    model = store.add_model(name="stand-in", arch="external", status="external")
    rows = []
    for i in val:
        boxes = [Box(5 + 50 * k, 5, 40 + 50 * k, 40) for k in range(3)]
        store.set_labels(i, [LabeledBox(zero, b) for b in boxes], source="human")
        rows += [(i, zero, b, 0.95) for b in boxes]
    store.set_splits({i: "val" for i in val})
    truth = store.oracle_boxes(picked)
    for i in picked:
        rows += [(i, b.class_id, b.box, 0.6) for b in truth[i]] + [(i, zero, ACCEPTED, 0.97)]
    store.add_predictions(model, rows)
    store.add_selection(tag=TAG, round=1, strategy="uncertainty", config={}, seed=0,
                        model_id=model, items=[SelectionItem(i, r, 1 - r / 10, False)
                                               for r, i in enumerate(picked)])
    return model, zero, picked, truth


@pytest.fixture
def project(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    return demo_store


def _working(at):
    return at.session_state["rv_work"][at.session_state["rv_item"]]


def test_box_level_review_is_off_until_the_annotator_turns_it_on(project):
    box_level_project(project)
    at = open_review(project)
    w = _working(at)
    assert w.accepted() == [] and any(b["box"] == ACCEPTED.as_list() for b in w.boxes)
    at.toggle(key="rv-box-level").set_value(True).run()
    assert not at.exception, at.exception
    assert project.user_setting("ana", "box_level") == "1"
    w = _working(at)  # the unedited image opened again in box-level mode
    assert [b.box for b in w.accepted()] == [ACCEPTED]
    assert all(b["box"] != ACCEPTED.as_list() for b in w.boxes)  # not on the canvas
    assert any("zero ≥ 0.95" in c.value for c in at.sidebar.caption)
    # the classes without a threshold say why they are always asked about
    assert any(read(c.value) == "Always asked: one, two, three, four, five, six, seven, "
               "eight, nine (0 validation boxes, fewer than the 20 needed)"
               for c in at.sidebar.caption)
    assert any("ACCEPTED WITHOUT ASKING (1)" in c.value for c in at.caption)


def test_accepted_boxes_are_drawn_faint_on_the_background(project):
    from ui.canvas import View, with_accepted

    base = Image.new("RGB", (200, 200), (0, 0, 0))
    buf = io.BytesIO()
    base.save(buf, format="JPEG")
    out = np.asarray(Image.open(io.BytesIO(with_accepted(
        buf.getvalue(), (("#ff0000", (20.0, 20.0, 120.0, 120.0)),)))).convert("RGB"), int)
    top = out[20, 20:121]  # the box's top edge: dashes of red, with gaps
    red = (top[:, 0] - top[:, 1]) > 80
    assert 0.3 < red.mean() < 0.8, red  # dashed, not solid
    assert out[70, 70][0] < 60 and out[70, 70][0] > out[180, 180][0]  # a light tint inside
    assert out[180, 180].max() < 10  # nothing outside
    assert View  # the canvas module draws it: the same import the editor uses


def test_the_o_key_reopens_the_accepted_boxes_and_a_save_marks_them(project):
    _, zero, picked, truth = box_level_project(project)
    project.set_user_setting("ana", "box_level", "1")
    at = open_review(project)
    first = at.session_state["rv_item"]
    w = _working(at)
    asked = len(w.boxes)
    assert asked == len(truth[first])
    reopen = at.button(key="rv-reopen")
    assert reopen.proto.shortcut.upper() == "O"
    # save the first image as shown: the sure box is saved, marked auto-accepted
    at.button(key="rv-accept").click().run()
    assert not at.exception, at.exception
    labels = project.annotations([first])[first]
    marked = project.auto_accepted_ids([first])
    assert [a.box for a in labels if a.id in marked] == [ACCEPTED]
    assert len(labels) == len(truth[first]) + 1
    review = project.reviews(item_id=first)[-1]
    assert review["auto_accepted"] == 1 and review["prelabels"] == asked
    assert review["kept"] == asked
    # the next image: O puts the accepted box among the boxes to decide on
    second = at.session_state["rv_item"]
    assert second == picked[1]
    at.button(key="rv-reopen").click().run()
    assert not at.exception, at.exception
    w = _working(at)
    assert w.accepted() == [] and len(w.boxes) == len(truth[second]) + 1
    assert any("Reopened 1 accepted box: it is yours to decide now." in c.value
               for c in at.caption)
    # reopened, it is a pre-label like the others: deleted, it is not saved
    k = next(k for k, b in enumerate(w.boxes) if b["box"] == ACCEPTED.as_list())
    at.button(key=f"rv-del-{w.tag}-{k}").click().run()
    at.button(key="rv-save").click().run()
    assert not at.exception, at.exception
    assert project.auto_accepted_ids([second]) == set()
    assert ACCEPTED not in [a.box for a in project.annotations([second])[second]]
    assert project.reviews(item_id=second)[-1]["deleted"] == 1


def test_undo_keeps_reopened_boxes(project):
    box_level_project(project)
    project.set_user_setting("ana", "box_level", "1")
    at = open_review(project)
    w = _working(at)
    at.button(key=f"rv-del-{w.tag}-0").click().run()  # an edit before the reopen
    at.button(key="rv-reopen").click().run()
    at.button(key="rv-undo").click().run()
    assert not at.exception, at.exception
    w = _working(at)
    assert any(b["box"] == ACCEPTED.as_list() for b in w.boxes)  # still reopened
    assert w.accepted() == []


def test_switched_off_mid_edit_nothing_is_saved_as_accepted(project):
    _, zero, picked, truth = box_level_project(project)
    project.set_user_setting("ana", "box_level", "1")
    at = open_review(project)
    first = at.session_state["rv_item"]
    w = _working(at)
    assert [b.box for b in w.accepted()] == [ACCEPTED]
    k = 0  # an edit: the image is dirty, so switching off keeps its working copy
    at.button(key=f"rv-del-{w.tag}-{k}").click().run()
    assert _working(at).dirty
    at.toggle(key="rv-box-level").set_value(False).run()
    assert not at.exception, at.exception
    w = _working(at)
    assert w.accepted() == [] and any(b["box"] == ACCEPTED.as_list() for b in w.boxes)
    at.button(key="rv-save").click().run()
    assert not at.exception, at.exception
    assert project.auto_accepted_ids([first]) == set()
    assert ACCEPTED in [a.box for a in project.annotations([first])[first]]


def test_unpredicted_validation_images_are_offered_a_predict_job_followed_in_place(project):
    model, _, picked, _ = box_level_project(project)
    project.update_model(model, checkpoint_path="models/model-1.pt")  # a model that runs
    project.replace_predictions(model, [], [], [(i, b"\0\0\0\0") for i in picked])
    project.set_user_setting("ana", "box_level", "1")
    at = open_review(project)
    assert not at.exception, at.exception
    assert any(c.value.startswith(f"Model #{model} has not predicted 8 validation images")
               for c in at.sidebar.caption)
    assert any(b.label == "Predict the validation images" for b in at.sidebar.button)
    assert any(c.value == "No job is running." for c in at.sidebar.caption)  # followed here
    assert _working(at).accepted() == []  # nothing is accepted until it has


def test_an_accepted_box_carries_its_class_and_score_faintly():
    from ui.canvas import with_accepted

    buf = io.BytesIO()
    Image.new("RGB", (200, 200), (0, 0, 0)).save(buf, format="JPEG")
    box = ("#ff0000", (20.0, 20.0, 180.0, 180.0))
    plain = np.asarray(Image.open(io.BytesIO(with_accepted(buf.getvalue(), (box,)))), int)
    labeled = np.asarray(Image.open(io.BytesIO(with_accepted(
        buf.getvalue(), ((*box, "zero 0.97"),)))), int)
    changed = np.abs(labeled - plain).sum(axis=2) > 60
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 50  # the text is drawn...
    assert xs.min() >= 20 and ys.min() >= 140 and ys.max() <= 180  # ...inside, bottom-left
