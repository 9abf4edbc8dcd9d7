"""The Images page (selection filter, a model's predictions, links into the editor) and
the thumbnails' class chips."""
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from al_core.types import Annotation, Box, ClassInfo, SelectionItem
from ui.draw import draw_boxes

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def images_page(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page("pages/images.py").run()


def _pool(store, n):
    return [i.id for i in store.items(unsplit=True, limit=n)]


def _links(at):
    return [(link.proto.page, parse_qs(link.proto.query_string)) for link in at.page_link
            if link.value == "Open in editor"]


def test_selection_filter_shows_the_selection_and_links_with_its_tag(images_page,
                                                                      demo_store):
    ids = _pool(demo_store, 5)
    demo_store.add_selection(tag="s1", round=1, strategy="random", config={}, seed=0,
                             model_id=None,
                             items=[SelectionItem(i, r, None, False) for r, i in enumerate(ids)])
    at = images_page.run()
    selection = next(s for s in at.selectbox if s.label == "Selection")
    assert selection.options == ["all", "s1"]
    selection.set_value("s1").run()
    assert not at.exception
    assert any("5 images match" in c.value for c in at.caption)
    assert len(at.get("image")) == 5
    assert _links(at) == [("review", {"selection": ["s1"], "item": [str(i)]}) for i in ids]


def test_every_thumbnail_links_to_the_editor_and_test_items_say_test(images_page,
                                                                     demo_store):
    assert not images_page.exception
    links = _links(images_page)
    assert len(links) == 24
    first = demo_store.items(limit=1)[0].id
    assert links[0] == ("review", {"item": [str(first)]})
    test_ids = {i.id for i in demo_store.items(split="test")}
    captions = [c.value for c in images_page.caption if c.value.startswith("#")]
    assert len(captions) == 24
    for caption in captions:
        item_id = int(caption[1:].split(" ")[0])
        assert ("test]" in caption) == (item_id in test_ids), caption


def test_predictions_view_draws_a_models_boxes_above_the_min_score(images_page,
                                                                   demo_store):
    first = demo_store.items(limit=1)[0].id
    model_id = demo_store.add_model(name="m", arch="external", status="external")
    class_id = demo_store.classes()[0].id
    demo_store.add_predictions(model_id, [(first, class_id, Box(2, 2, 40, 40), 0.9),
                                          (first, class_id, Box(50, 50, 90, 90), 0.1)])
    at = images_page.run()
    next(s for s in at.segmented_control if s.label == "Show").set_value(
        "A model's predictions").run()
    assert not at.exception
    model = next(s for s in at.selectbox if s.label == "Model")
    assert model.value == model_id
    assert any(f"1 predicted boxes of model #{model_id} scoring 0.30" in c.value
               for c in at.caption)
    assert any(c.value.startswith(f"#{first} ") and "1 predicted" in c.value
               for c in at.caption)
    next(s for s in at.slider if s.label == "Min score").set_value(0.05).run()
    assert any(f"2 predicted boxes of model #{model_id} scoring 0.05" in c.value
               for c in at.caption)


def test_predictions_view_without_predictions_says_so(images_page):
    next(s for s in images_page.segmented_control if s.label == "Show").set_value(
        "A model's predictions").run()
    assert not images_page.exception
    assert any("No model has predictions yet" in i.value for i in images_page.info)
    assert len(images_page.get("image")) == 24  # the current labels, as before


# -- drawing -------------------------------------------------------------------------------
RED = ClassInfo(1, "seven", "#ff0000")


def _count(image, color):
    return sum(1 for p in image.get_flattened_data() if p == color)


def test_chip_of_a_box_at_the_top_edge_is_inside_the_image_with_its_score():
    image = Image.new("RGB", (128, 128), "#808080")
    box = Annotation(1, 1, Box(10, 0, 90, 60), "model")
    out = draw_boxes(image, [box], [RED], scale=240 / 128, scores=[0.87])
    assert out.size == (240, 240)
    # below the box's 2 px top line, the chip still fills rows 2-4 (the line alone
    # would leave them grey): it sits inside the box, inside the image
    band = out.crop((24, 2, 70, 5))
    assert _count(band, (255, 0, 0)) == band.width * band.height
    # text of a contrasting colour (white on red) is drawn on the chip
    assert _count(out.crop((20, 0, 160, 30)), (255, 255, 255)) > 20
    plain = draw_boxes(image, [box], [RED], scale=240 / 128)
    assert _count(out, (255, 0, 0)) > _count(plain, (255, 0, 0))  # "seven 0.87" is longer


def test_boxes_past_the_edges_stay_inside_and_scores_may_be_missing():
    image = Image.new("RGB", (100, 100), "#808080")
    boxes = [Annotation(1, 1, Box(-5, -5, 120, 120), "x"),
             Annotation(1, 1, Box(95, 40, 100, 50), "x")]
    out = draw_boxes(image, boxes, [RED], scores=[None, 0.5])
    assert out.getpixel((0, 50)) == (255, 0, 0) and out.getpixel((99, 70)) == (255, 0, 0)
    assert out.getpixel((50, 99)) == (255, 0, 0)
    with pytest.raises(ValueError, match="scores has 1 entries for 2"):
        draw_boxes(image, boxes, [RED], scores=[0.5])


def test_where_chips_overlap_the_most_confident_is_on_top():
    image = Image.new("RGB", (100, 100), "#808080")
    blue = ClassInfo(2, "one", "#0000ff")
    boxes = [Annotation(1, 1, Box(10, 40, 60, 90), "model"),
             Annotation(1, 2, Box(10, 40, 60, 90), "model")]
    for scores, color in (([0.9, 0.2], (255, 0, 0)), ([0.2, 0.9], (0, 0, 255))):
        out = draw_boxes(image, boxes, [RED, blue], scores=scores)
        assert out.getpixel((12, 30)) == color  # a chip corner above the boxes


def test_prelabels_keep_those_at_the_min_score(demo_store):
    from al_core.review.save import prelabels

    a, b = demo_store.query_pool()[:2]
    model = demo_store.add_model(name="m", arch="external", status="external")
    demo_store.add_predictions(model, [(a, 1, Box(0, 0, 5, 5), s) for s in (0.9, 0.3, 0.1)])
    shown = prelabels(demo_store, model, [a, b], min_score=0.3)
    assert [s for _, s in shown[a]] == [0.9, 0.3] and shown[b] == []
    assert shown[a][0][0].box == Box(0, 0, 5, 5)
    assert prelabels(demo_store, None, [a], min_score=0) == {a: []}


def test_filters_are_kept_after_a_visit_to_another_page(images_page, demo_store):
    ids = _pool(demo_store, 5)
    demo_store.add_selection(tag="s1", round=1, strategy="random", config={}, seed=0,
                             model_id=None,
                             items=[SelectionItem(i, r, None, False) for r, i in enumerate(ids)])
    at = images_page.run()
    next(s for s in at.selectbox if s.label == "Selection").set_value("s1").run()
    next(s for s in at.segmented_control if s.label == "Status").set_value("unlabeled").run()
    at.switch_page("pages/project.py").run()
    at.switch_page("pages/images.py").run()
    assert not at.exception
    assert next(s for s in at.selectbox if s.label == "Selection").value == "s1"
    assert any("5 images match" in c.value for c in at.caption)
