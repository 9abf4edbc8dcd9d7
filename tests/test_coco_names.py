"""COCO file names looked up in a folder's files as exporters write them (issue 15,
build item 3), and a corrected selection matched the same way."""
import json
import unicodedata

import pytest

from al_core.formats.coco_names import NameIndex, name_parts

FOLDER = ["images/cb0618f6-cat_01.png", "a/x.png", "b/x.png", "x.png", "IMG_1.JPG",
          unicodedata.normalize("NFD", "café.png"), "my cat.png", "sub/my cat.png",
          "deep/er/z.png", "Dup.PNG", "Dup.png", "dup.png"]


@pytest.mark.parametrize("name, path", [
    ("images/cb0618f6-cat_01.png", "images/cb0618f6-cat_01.png"),
    ("..\\..\\label-studio\\media\\upload\\4\\cb0618f6-cat_01.png",
     "images/cb0618f6-cat_01.png"),
    ("x.png", "x.png"),  # the whole path wins over longer paths that end with it
    ("a/x.png", "a/x.png"), ("a\\x.png", "a/x.png"), ("./a//x.png", "a/x.png"),
    ("upload/b/x.png", "b/x.png"),  # the longest suffix that fits
    ("IMG_1.jpg", "IMG_1.JPG"),
    ("café.png", unicodedata.normalize("NFD", "café.png")),
    ("my%20cat.png", "my cat.png"), ("/data/local-files/?d=sub/my%20cat.png", "sub/my cat.png"),
    ("C:\\Users\\me\\deep\\er\\z.png", "deep/er/z.png"), ("http://host/er/z.png", "deep/er/z.png"),
    ("dup.png", "dup.png"), ("Dup.png", "Dup.png"),  # the exact spelling wins
    ("../../etc/passwd", None), ("nothing.png", None), ("", None), ("a\x00.png", None),
])
def test_a_name_matches_the_one_file_it_means(name, path):
    assert NameIndex(FOLDER).match(name).path == path


@pytest.mark.parametrize("name, candidates", [
    ("c/x.png", ("a/x.png", "b/x.png", "x.png")),
    ("other/Dup.Png", ("Dup.PNG", "Dup.png")),  # only the extension's case is ignored
])
def test_two_files_that_fit_equally_match_neither(name, candidates):
    m = NameIndex(FOLDER).match(name)
    assert m.path is None and m.candidates == candidates


def test_how_a_match_was_made_is_said():
    index = NameIndex(FOLDER)
    assert index.match("a/x.png").how() is None
    assert index.match("a\\x.png").how() is None
    how = index.match("..\\..\\label-studio\\media\\upload\\4\\cb0618f6-cat_01.png").how()
    assert how == "by its file name ('label-studio/media/upload/4/' is not in the folder)"
    assert index.match("q/er/z.png").how().startswith("by its last 2 path parts ('q/'")
    assert "spelled differently" in index.match("IMG_1.jpg").how()
    assert "%-escapes" in index.match("my%20cat.png").how()


def test_name_parts_apply_dot_dot_and_drop_drives():
    assert name_parts("a/../b/./c.JPG") == ("b", "c.jpg")
    assert name_parts("../../x.png") == ("x.png",)
    assert name_parts("D:\\x\\y.png") == ("x", "y.png")
    assert name_parts("a/B.JPG", normalize=False) == ("a", "B.JPG")


def test_a_corrected_selection_is_matched_and_labeled_whole(demo_store, tmp_path):
    """import --selection takes Label Studio's paths too, and an image with an unusable
    annotation is left as it was, not labeled with the rest."""
    from al_core.review.external import import_selection
    from al_core.types import SelectionItem

    pool = demo_store.query_pool()[:2]
    demo_store.add_selection(tag="b", round=1, strategy="random", config={}, seed=0,
                             model_id=None, items=[SelectionItem(i, n, None, False)
                                                   for n, i in enumerate(pool)])
    files = [demo_store.item(i).file for i in pool]
    coco = {"images": [{"id": 0, "file_name": "..\\..\\upload\\4\\" + files[0].split("/")[-1]},
                       {"id": 1, "file_name": files[1]}],
            "categories": [{"id": 1, "name": "one"}],
            "annotations": [{"id": 1, "image_id": 0, "category_id": 1, "bbox": [1, 1, 9, 9]},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9]},
                            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 9]}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    report = import_selection(demo_store, "b", tmp_path / "c.json")
    assert report.items_labeled == 1
    assert demo_store.item(pool[0]).status == "labeled"
    assert demo_store.item(pool[1]).status == "unlabeled"
    assert any(f"(item #{pool[1]}): left unlabeled, 1 of its 2 annotations" in p
               for p in report.problems)


def test_a_labeled_selection_item_a_faulty_file_cannot_label_keeps_its_labels(demo_store,
                                                                             tmp_path):
    """An item already reviewed was said to be 'left unlabeled' (and counted so in the
    summary) when the corrected file had an unusable annotation for it; it keeps its
    labels and the report says so."""
    from al_core.review.external import import_selection
    from al_core.types import Box, LabeledBox, SelectionItem

    item_id = demo_store.query_pool()[0]
    demo_store.add_selection(tag="b", round=1, strategy="random", config={}, seed=0,
                             model_id=None, items=[SelectionItem(item_id, 0, None, False)])
    class_id = demo_store.classes()[0].id
    demo_store.set_labels(item_id, [LabeledBox(class_id, Box(1, 1, 9, 9))], source="human")
    coco = {"images": [{"id": 0, "file_name": demo_store.item(item_id).file}],
            "categories": [{"id": 1, "name": "one"}],
            "annotations": [{"id": 1, "image_id": 0, "category_id": 1, "bbox": [1, 1, 0, 9]}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    report = import_selection(demo_store, "b", tmp_path / "c.json")
    assert report.unlabeled == {} and "left unlabeled" not in report.summary()
    assert any(f"(item #{item_id}): its labels are unchanged, 1 of its 1 annotation could "
               "not be imported" in p for p in report.problems)
    assert demo_store.item(item_id).status == "labeled"
    assert [a.box.as_list() for a in demo_store.annotations([item_id])[item_id]] == \
        [[1.0, 1.0, 9.0, 9.0]]
