"""The canvas bridge's changes applied to the working boxes (ui.review_zoom.apply): a
change names a box by its index in the drawing the bridge saw, so a change sent before the
page redrew after a delete must not land on the box that took the deleted one's place.
And the threshold slider against the box list's relabel and undo (ui.working.Working):
no pre-label comes back beside the box it became, none the slider shows is lost."""
import streamlit as st

from ui import review_nav, review_zoom
from ui.canvas_view import fit_view
from ui.working import Working


def _working():
    w = Working.open(1, 400, 300, base_version=0, prelabels=[], labels=None, min_score=0.3)
    w.boxes = [{"class_id": 0, "box": [10.0 + 60 * i, 10.0, 50.0 + 60 * i, 50.0],
                "score": None, "pred": None} for i in range(3)]
    return w


def test_a_nudge_sent_before_the_redraw_after_a_delete_moves_no_other_box():
    st.session_state.clear()
    w, fit = _working(), fit_view(400, 300, max_w=800, max_h=600)
    seen = w.tag  # the drawing the bridge saw: box 1 highlighted
    st.session_state["rv_focus"] = 1
    review_zoom.apply(w, {"act": "delete", "k": 1, "tag": seen}, fit, fit)
    third = list(w.boxes[1]["box"])  # the third box now has index 1
    # an arrow pressed on the highlighted box 1 before the page redrew
    review_zoom.apply(w, {"act": "nudge", "k": 1, "d": [1, 0, 1, 0], "tag": seen}, fit, fit)
    assert w.boxes[1]["box"] == third
    assert len(w.boxes) == 2 and st.session_state.get("rv_focus") is None


def test_nudges_sent_faster_than_the_redraw_all_count():
    st.session_state.clear()
    w, fit = _working(), fit_view(400, 300, max_w=800, max_h=600)
    seen = w.tag
    for _ in range(3):  # three arrow presses, each sent before the page redrew
        review_zoom.apply(w, {"act": "nudge", "k": 2, "d": [1, 0, 1, 0], "tag": seen},
                          fit, fit)
    assert w.boxes[2]["box"] == [133.0, 10.0, 173.0, 50.0]
    assert st.session_state["rv_focus"] == 2


def _prelabeled():
    preds = [{"class_id": 0, "box": [10.0, 10.0, 50.0, 50.0], "score": 0.9},
             {"class_id": 0, "box": [100.0, 10.0, 150.0, 50.0], "score": 0.2}]
    return Working.open(1, 400, 300, base_version=0, prelabels=preds, labels=None,
                        min_score=0.3)


def test_a_relabeled_prelabel_does_not_come_back_as_a_second_box_when_the_threshold_moves():
    w = _prelabeled()
    w.relabel(0, 1)  # the annotator's box from now on
    w.set_min_score(0.1)  # the second pre-label shows; the first is not a pre-label any more
    assert sorted((b["class_id"], b["box"][0]) for b in w.boxes) == [(0, 100.0), (1, 10.0)]


def test_undo_keeps_the_prelabels_the_threshold_shows_now():
    w = _prelabeled()
    w.add(0, [200, 100, 250, 150])
    w.set_min_score(0.1)  # the 0.2 pre-label comes in
    assert len(w.boxes) == 3
    assert w.undo()  # the drawn box goes; the pre-label the threshold shows stays
    assert [b["box"][0] for b in w.boxes] == [10.0, 100.0]


def test_the_highlight_follows_its_box_when_a_box_before_it_is_deleted_on_the_canvas():
    st.session_state.clear()
    w = _working()
    third = list(w.boxes[2]["box"])
    st.session_state["rv_focus"] = 2  # the third box highlighted
    # the canvas's edit mode deletes the first box (no redraw: the canvas's own edit)
    kept = [(0, list(b["box"])) for b in w.boxes[1:]]
    w.from_canvas(kept)
    review_nav.follow_focus(w)  # what the page does after each canvas edit
    assert w.boxes[st.session_state["rv_focus"]]["box"] == third
    w.from_canvas([(0, list(b["box"])) for b in w.boxes[:1]])  # the highlighted one goes
    review_nav.follow_focus(w)
    assert st.session_state["rv_focus"] is None
    assert review_nav.follow_focus(w) is None and st.session_state["rv_focus"] is None


def test_undo_drops_the_highlight_whose_index_it_may_have_given_to_another_box():
    st.session_state.clear()
    w = _working()
    st.session_state.update(rv_work={1: w}, rv_item=1, rv_msg=None, rv_focus=None)
    w.delete(0)
    st.session_state["rv_focus"] = 1  # the third box, now second
    review_nav.undo()  # the first box back: index 1 is the second box again
    assert len(w.boxes) == 3 and st.session_state["rv_focus"] is None
