"""The one place where boxes cross between image pixels and canvas pixels, zoomed or not
(ui/canvas_view.py), and what the working boxes do with a zoomed canvas that holds only
some of them (ui/working.py): boxes off the view stay exactly as they were, in their
places; a move under a pixel is taken; resize, nudge and add edit one box."""
import pytest

from ui.canvas_view import (fit_view, on_view, pan, step_zoom, to_canvas, to_canvas_xyxy,
                            to_image, view_at, zoom_about, zoom_levels)
from ui.working import Working

FIT = fit_view(1600, 1200, max_w=800, max_h=800)  # 800x600 canvas, 0.5 canvas px / image px


def test_the_whole_image_fits_and_converts_both_ways():
    assert (FIT.canvas_w, FIT.canvas_h, FIT.scale, FIT.zoom) == (800, 600, 0.5, 1.0)
    assert FIT.rect == (0, 0, 1600, 1200) and not FIT.zoomed
    assert to_canvas([100, 200, 300, 400], FIT) == {"left": 50, "top": 100, "width": 100,
                                                    "height": 100}
    assert to_image({"left": 50, "top": 100, "width": 100, "height": 100}, FIT) == \
        [100, 200, 300, 400]


def test_a_zoomed_view_shows_a_part_of_the_image_on_the_same_canvas():
    v = view_at(FIT, 4, 1000, 500)
    assert (v.canvas_w, v.canvas_h) == (800, 600)  # the page holds still
    assert v.scale == 2.0 and v.rect == (1000, 500, 1400, 800)
    box = [1010.25, 697.5, 1017.75, 707.0]
    c = to_canvas(box, v)
    assert c == {"left": 20.5, "top": 395.0, "width": 15.0, "height": 19.0}
    assert to_image(c, v) == box  # exact both ways
    assert to_canvas_xyxy(box, v) == (20.5, 395.0, 35.5, 414.0)
    assert on_view(box, v) and not on_view([40, 40, 200, 160], v)
    assert on_view([1390, 790, 1500, 900], v)  # partly on it
    assert not on_view([1400, 500, 1500, 600], v)  # touching its edge is not on it


def test_the_view_stays_inside_the_image():
    v = view_at(FIT, 4, 1500, -30)  # past the right and top edges
    assert v.rect == (1200, 0, 1600, 300)
    assert view_at(FIT, 1, 500, 500) == FIT  # zoom 1 is the whole image
    assert view_at(FIT, 0.2, 5, 5) == FIT
    top = zoom_levels(FIT)[-1]
    assert view_at(FIT, 10_000, 0, 0).zoom == top  # no further than the last level
    assert FIT.scale * top <= 40  # one image pixel at most 40 canvas pixels


def test_zoom_keeps_the_point_under_the_pointer_and_steps_through_the_levels():
    at = (323.0, 224.5)
    point = (FIT.x0 + at[0] / FIT.scale, FIT.y0 + at[1] / FIT.scale)
    v = FIT
    for _ in range(4):
        v = step_zoom(v, FIT, 1, at)
        assert v.x0 + at[0] / v.scale == pytest.approx(point[0])
        assert v.y0 + at[1] / v.scale == pytest.approx(point[1])
    assert v.zoom == zoom_levels(FIT)[4] == 4.0
    assert step_zoom(v, FIT, -1, at).zoom == 3.0
    assert step_zoom(v, FIT, 0) == FIT  # 0: the whole image
    assert step_zoom(FIT, FIT, -1) == FIT  # no further out than the whole image
    centre = zoom_about(FIT, FIT, 2.0)  # no pointer: about the canvas's centre
    assert centre.rect == (400, 300, 1200, 900)


def test_pan_moves_by_canvas_pixels_and_stops_at_the_edges():
    v = view_at(FIT, 2, 400, 300)  # scale 1
    assert pan(v, FIT, 200, -100).rect[:2] == (600, 200)
    assert pan(v, FIT, 10_000, 10_000).rect == (800, 600, 1600, 1200)
    assert pan(FIT, FIT, 50, 50) == FIT  # the whole image does not pan


def test_view_keys_differ_by_zoom_and_place_and_hold_only_class_name_characters():
    keys = {FIT.key, view_at(FIT, 2, 0, 0).key, view_at(FIT, 2, 10, 0).key,
            view_at(FIT, 3, 10, 0).key}
    assert len(keys) == 4
    assert all(k.replace("x", "").replace("z", "").replace("_", "").isdigit() for k in keys)


def _working(boxes):
    w = Working.open(1, 1600, 1200, base_version=0, prelabels=[], labels=None, min_score=0.3)
    w.boxes = [{"class_id": c, "box": list(b), "score": None, "pred": None} for c, b in boxes]
    return w


def test_boxes_off_a_zoomed_canvas_stay_exactly_as_they_were_in_their_places():
    far, near, far2 = [40.0, 40.0, 200.0, 160.0], [1010.0, 700.0, 1020.0, 710.0], \
        [1500.0, 1100.0, 1590.0, 1190.0]
    w = _working([(1, far), (2, near), (1, far2)])
    v = view_at(FIT, 8, 980, 680)
    w.on_canvas = [k for k, b in enumerate(w.boxes) if on_view(b["box"], v)]
    assert w.on_canvas == [1]
    echo = [(2, to_image(to_canvas(near, v), v))]
    assert w.from_canvas(echo, noise=0.05 / v.scale) == [] and not w.dirty
    # the annotator tightened the near box by a quarter pixel and drew a new one
    tight = [1010.25, 700.0, 1020.0, 709.75]
    drawn = [1030.0, 690.0, 1040.0, 700.0]
    w.from_canvas([(2, tight), (1, drawn)], noise=0.05 / v.scale)
    assert [b["box"] for b in w.boxes] == [far, tight, far2, drawn]
    assert w.boxes[0]["box"] is not far  # a copy, equal to the last bit
    assert w.on_canvas == [1, 3]  # the canvas now holds these two
    # the canvas deleted the tightened box: the boxes off the view are still there
    w.from_canvas([(1, drawn)], noise=0.05 / v.scale)
    assert [b["box"] for b in w.boxes] == [far, far2, drawn]
    assert [b.box.as_list() for b in w.final()] == [far, far2, drawn]


def test_an_echo_within_the_canvas_rounding_keeps_the_coordinates_exactly():
    box = [100.123456, 200.5, 300.987654, 400.25]
    w = _working([(1, box)])
    rounded = [round(v * 0.5, 2) / 0.5 for v in box]  # the canvas keeps 0.01 canvas px
    assert w.from_canvas([(1, rounded)], noise=0.05 / 0.5) == [] and not w.dirty
    assert w.boxes[0]["box"] == box


def test_set_box_nudge_and_add_edit_one_box_with_undo():
    w = _working([(1, [10.0, 10.0, 50.0, 40.0]), (2, [100.0, 100.0, 140.0, 130.0])])
    rev = w.rev
    assert w.set_box(0, [60, 45, 12, 8])  # any corner order
    assert w.boxes[0] == {"class_id": 1, "box": [12.0, 8.0, 60.0, 45.0], "score": None,
                          "pred": None} and w.rev == rev + 1
    assert not w.set_box(0, [12, 8, 60, 45])  # unchanged: nothing
    assert not w.set_box(5, [0, 0, 1, 1])  # gone: nothing
    assert w.nudge(1, [0, 0, 2, 0])  # the right edge out 2 px
    assert w.boxes[1]["box"] == [100.0, 100.0, 142.0, 130.0]
    assert w.nudge(1, [-1, 0, -1, 0])  # moved left
    assert w.boxes[1]["box"] == [99.0, 100.0, 141.0, 130.0]
    assert w.nudge(1, [0, 0, -1000, 0])  # pulled in past the other side: 1 px left
    assert w.boxes[1]["box"] == [99.0, 100.0, 100.0, 130.0]
    w.set_box(1, [1590, 5, 1600, 20])
    assert w.nudge(1, [3, -9, 3, -9])  # moved against the image's corner: it stops there
    assert w.boxes[1]["box"] == [1590.0, 0.0, 1600.0, 15.0]
    assert not w.nudge(1, [1, -1, 1, -1])
    w.add(2, [300, 310, 280, 290])
    assert w.boxes[-1]["box"] == [280.0, 290.0, 300.0, 310.0]
    for _ in range(7):  # seven edits, each one undo
        assert w.undo()
    assert [b["box"] for b in w.boxes] == [[10.0, 10.0, 50.0, 40.0], [100.0, 100.0, 140.0, 130.0]]


def test_a_moved_prelabel_is_the_annotators_box_and_its_prediction_counts_as_deleted():
    pre = [{"class_id": 1, "box": [10.0, 10.0, 50.0, 50.0], "score": 0.9}]
    w = Working.open(1, 100, 100, base_version=0, prelabels=pre, labels=None, min_score=0.3)
    assert w.boxes[0]["pred"] == 0
    w.nudge(0, [0, 0, 1, 0])
    assert w.boxes[0]["score"] is None and w.boxes[0]["pred"] is None
    assert 0 in w.deleted_preds
