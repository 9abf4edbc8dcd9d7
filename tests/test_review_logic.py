"""The review screen's pure parts: change counting, clipping, the canvas conversions and
the working boxes between saves."""
import pytest

from al_core.review.changes import ChangeCounts, match_changes
from al_core.review.save import clip_box
from al_core.types import Box, ClassInfo, LabeledBox
from ui.canvas import View, chip_text, drawing, fit_view, parse_chip, to_canvas, to_image
from ui.working import Working

CLASSES = [ClassInfo(1, "cat", "#e6194b"), ClassInfo(2, "dog", "#3cb44b"),
           ClassInfo(3, "traffic light", "#4363d8")]


def lb(c, *xyxy):
    return LabeledBox(c, Box(*map(float, xyxy)))


def test_unchanged_boxes_are_kept():
    pre = [lb(1, 10, 10, 50, 50), lb(2, 60, 60, 90, 90)]
    assert match_changes(pre, list(reversed(pre))) == ChangeCounts(kept=2)


def test_each_kind_of_change_is_counted_once():
    pre = [lb(1, 10, 10, 50, 50), lb(2, 60, 60, 90, 90), lb(1, 100, 100, 140, 140)]
    saved = [lb(1, 14, 10, 54, 50),  # moved 4 px
             lb(1, 60, 60, 90, 90),  # relabeled
             lb(2, 200, 200, 220, 230)]  # added; the third pre-label deleted
    c = match_changes(pre, saved)
    assert c == ChangeCounts(kept=0, moved=1, relabeled=1, deleted=1, added=1)
    assert c.corrections == 4


def test_a_sub_pixel_move_is_kept_and_low_overlap_is_not_a_match():
    assert match_changes([lb(1, 10, 10, 50, 50)], [lb(1, 10.4, 9.7, 50.3, 50)]).kept == 1
    far = match_changes([lb(1, 0, 0, 10, 10)], [lb(1, 8, 8, 18, 18)])  # IoU 4/196
    assert (far.deleted, far.added, far.moved) == (1, 1, 0)


def test_greedy_matching_pairs_the_best_overlap_first():
    pre = [lb(1, 0, 0, 10, 10), lb(1, 2, 0, 12, 10)]
    saved = [lb(1, 2, 0, 12, 10)]  # identical to the second pre-label
    assert match_changes(pre, saved) == ChangeCounts(kept=1, deleted=1)


def test_clip_box_clips_to_the_image_and_drops_stray_clicks():
    assert clip_box([-5, -5, 20, 30], 100, 80) == Box(0, 0, 20, 30)
    assert clip_box([90, 70, 130, 120], 100, 80) == Box(90, 70, 100, 80)
    assert clip_box([20, 30, 10, 5], 100, 80) == Box(10, 5, 20, 30)  # any corner order
    assert clip_box([10, 10, 11, 40], 100, 80) is None  # 1 px wide: a click
    assert clip_box([120, 10, 140, 40], 100, 80) is None  # wholly outside
    assert clip_box([float("nan"), 0, 10, 10], 100, 80) is None


@pytest.mark.parametrize("w,h,max_w,max_h,expect", [
    (128, 128, 900, 600, (600, 600, 600 / 128)),  # small: scaled up to the height
    (4000, 3000, 900, 2000, (900, 675, 900 / 4000)),  # large: scaled down to the width
    (640, 480, 640, 480, (640, 480, 1.0)),
])
def test_fit_view_keeps_the_aspect_ratio(w, h, max_w, max_h, expect):
    v = fit_view(w, h, max_w=max_w, max_h=max_h)
    assert (v.canvas_w, v.canvas_h) == expect[:2] and v.scale == pytest.approx(expect[2])
    with pytest.raises(ValueError, match="positive"):
        fit_view(0, h, max_w=max_w, max_h=max_h)


def test_canvas_and_image_coordinates_round_trip():
    v = View(4000, 3000, 900, 675, 900 / 4000)
    box = [123.5, 456.25, 3999.0, 2999.5]
    c = to_canvas(box, v)
    assert c["left"] == pytest.approx(123.5 * 0.225) and c["width"] == pytest.approx(
        (3999 - 123.5) * 0.225)
    assert to_image(c, v) == pytest.approx(box)


def test_chips_carry_name_and_score_and_parse_back():
    assert chip_text("cat", 0.873) == "cat 0.87" and chip_text("dog", None) == "dog"
    assert parse_chip("cat 0.87", CLASSES) == 1
    assert parse_chip("traffic light", CLASSES) == 3
    assert parse_chip("traffic light 0.50", CLASSES) == 3
    assert parse_chip(" dog\n", CLASSES) == 2  # the inline editor leaves a newline
    assert parse_chip("zebra", CLASSES) is None and parse_chip("cat x", CLASSES) is None


def test_drawing_colours_boxes_by_class_and_differs_per_image():
    v = View(100, 100, 200, 200, 2.0)
    boxes = [{"class_id": 2, "box": [10, 10, 20, 30], "score": 0.9, "pred": 0}]
    d = drawing(boxes, CLASSES, v, focus=0, nonce="7-0")
    o = d["objects"][0]
    assert o["stroke"] == "#3cb44b" and o["label"] == "dog 0.90"
    assert (o["left"], o["top"], o["width"], o["height"]) == (20, 20, 20, 40)
    assert o["strokeWidth"] > drawing(boxes, CLASSES, v)["objects"][0]["strokeWidth"]
    assert drawing([], CLASSES, v, nonce="1-0") != drawing([], CLASSES, v, nonce="2-0")


PRE = [{"class_id": 1, "box": [10, 10, 50, 50], "score": 0.9},
       {"class_id": 2, "box": [60, 60, 90, 90], "score": 0.2}]


def _open(labels=None, min_score=0.3):
    return Working.open(5, 100, 100, base_version=0, prelabels=PRE, labels=labels,
                        min_score=min_score)


def test_working_starts_from_the_prelabels_above_the_threshold():
    w = _open()
    assert [b["pred"] for b in w.boxes] == [0] and not w.dirty
    assert w.final() == w.shown() == [lb(1, 10, 10, 50, 50)]


def test_working_threshold_drops_and_restores_untouched_prelabels_only():
    w = _open()
    w.from_canvas([(1, [10, 10, 50, 50]), (2, [0, 0, 30, 30])])  # the user drew a box
    w.set_min_score(0.1)
    assert len(w.boxes) == 3
    w.set_min_score(0.95)  # both pre-labels hidden; the user's box stays
    assert [b["box"] for b in w.boxes] == [[0, 0, 30, 30]]
    assert w.shown() == []  # hidden pre-labels are neither shown nor saved


def test_working_canvas_edits_relabel_delete_and_undo():
    w = _open(min_score=0.1)
    rev = w.rev
    assert w.from_canvas([(1, [10.2, 10, 50, 50]), (2, [60, 60, 90, 90])]) == []
    assert not w.dirty and w.rev == rev  # the echo of the initial drawing changes nothing
    w.from_canvas([(1, [20, 10, 60, 50]), (2, [60, 60, 90, 90])])  # moved the first
    assert w.boxes[0]["pred"] is None and w.boxes[1]["pred"] == 1
    w.relabel(1, 3)
    assert w.boxes[1]["class_id"] == 3 and w.rev == rev + 1
    w.delete(0)
    assert [b["class_id"] for b in w.boxes] == [3]
    assert w.undo() and w.undo() and w.undo()
    assert [b["box"] for b in w.boxes] == [[10, 10, 50, 50], [60, 60, 90, 90]]
    assert not w.undo()


def test_working_refuses_an_unknown_class_typed_on_the_canvas():
    w = _open()
    problems = w.from_canvas([(None, [10, 10, 50, 50])])
    assert problems and w.boxes[0]["class_id"] == 1  # kept its class
    problems = w.from_canvas([(1, [10, 10, 50, 50]), (None, [70, 70, 90, 90])])
    assert problems and len(w.boxes) == 1  # a new box with an unknown class is dropped


def test_working_on_a_labeled_image_counts_against_its_labels():
    w = _open(labels=[lb(2, 1, 1, 20, 20)])
    assert w.shown() == [lb(2, 1, 1, 20, 20)]
    w.relabel(0, 1)
    assert w.shown() == [lb(2, 1, 1, 20, 20)] and w.final() == [lb(1, 1, 1, 20, 20)]


def test_undo_after_a_threshold_change_keeps_hidden_prelabels_hidden():
    pre = [{"class_id": 1, "box": [10, 10, 50, 50], "score": 0.9},
           {"class_id": 2, "box": [60, 60, 90, 90], "score": 0.4}]
    w = Working.open(5, 100, 100, base_version=0, prelabels=pre, labels=None, min_score=0.3)
    w.from_canvas([(1, [10, 10, 50, 50]), (2, [60, 60, 90, 90]), (1, [0, 0, 9, 9])])
    w.set_min_score(0.5)  # hides the 0.4 pre-label; not an edit
    assert len(w.boxes) == 2 and len(w.undo_stack) == 1
    assert w.undo()  # undoes the drawn box, and the 0.4 box stays hidden
    assert [b["box"] for b in w.boxes] == [[10, 10, 50, 50]]
    assert not w.dirty


def test_the_opening_labels_are_remembered_past_the_undo_depth():
    from ui.working import UNDO_DEPTH

    w = _open(labels=[lb(2, 1, 1, 20, 20)])
    for k in range(UNDO_DEPTH + 5):
        w.relabel(0, 1 if k % 2 == 0 else 3)
    assert w.shown() == [lb(2, 1, 1, 20, 20)]
