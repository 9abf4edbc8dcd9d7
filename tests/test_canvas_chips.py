"""Label chips kept inside the review canvas (ui.canvas_chips): the canvas draws a chip
rightwards from its box's left edge and never checks the right edge, so a chip that
would pass it gets its score dropped, then a smaller font; the class it names, which
is what the canvas gives back, is never touched."""
from al_core.types import ClassInfo
from ui.canvas import chip_names, drawing, fit_view, parse_chip
from ui.canvas_chips import MIN_FONT_PX, chip_width, fit_chips

CLASSES = [ClassInfo(1, "three", "#f58231"), ClassInfo(2, "type 2", "#3cb44b"),
           ClassInfo(3, "a-rather-long-class-name", "#4363d8")]
NAMES = set(chip_names(CLASSES).values())
VIEW = fit_view(160, 160, max_w=512, max_h=512)  # 3.2 canvas pixels per image pixel


def _fit(boxes):
    return fit_chips(drawing(boxes, CLASSES, VIEW), VIEW.canvas_w, NAMES)["objects"]


def test_a_chip_in_the_middle_is_untouched():
    [obj] = _fit([{"class_id": 1, "box": [10, 10, 40, 40], "score": 0.9}])
    assert (obj["label"], obj["fontSize"]) == ("three 0.90", 14)


def test_a_chip_at_the_right_edge_drops_its_score_then_shrinks_to_fit():
    boxes = [{"class_id": 1, "box": [146, 50, 158, 70], "score": 0.9},  # 45 px of room
             {"class_id": 3, "box": [120, 90, 150, 120], "score": None},  # 128 px
             {"class_id": 1, "box": [159, 10, 160, 20], "score": 0.5},  # 3 px: cannot fit
             {"class_id": 1, "box": [140, 10, 150, 20], "score": 0.5}]  # 64 px: the name fits
    near, long_name, edge, roomy = _fit(boxes)
    room = VIEW.canvas_w - near["left"]
    assert near["label"] == "three" and chip_width("three", near["fontSize"]) <= room
    assert MIN_FONT_PX < near["fontSize"] < 14
    assert (roomy["label"], roomy["fontSize"]) == ("three", 14)  # the score dropped only
    assert long_name["label"] == "a-rather-long-class-name"
    assert chip_width(long_name["label"], long_name["fontSize"]) <= VIEW.canvas_w - \
        long_name["left"] or long_name["fontSize"] == MIN_FONT_PX
    assert (edge["label"], edge["fontSize"]) == ("three", MIN_FONT_PX)  # the least it takes
    for obj, b in zip((near, long_name, edge, roomy), boxes):  # the class read back is the same
        assert parse_chip(obj["label"], CLASSES) == b["class_id"]
        assert (obj["left"], obj["top"]) == (b["box"][0] * VIEW.scale, b["box"][1] * VIEW.scale)


def test_a_name_that_ends_in_a_number_keeps_it():
    [obj] = _fit([{"class_id": 2, "box": [150, 10, 158, 30], "score": None}])
    assert obj["label"] == "type 2" and parse_chip(obj["label"], CLASSES) == 2
    [scored] = _fit([{"class_id": 2, "box": [150, 10, 158, 30], "score": 0.7}])
    assert scored["label"] == "type 2"  # "type 2 0.70": the score goes, the 2 stays
