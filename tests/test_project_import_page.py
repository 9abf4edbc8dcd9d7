"""The Project page's import: the report per image, what to do, and the options to take
crowd regions as boxes and to replace labels (issue 15), headless with AppTest."""
import copy

from streamlit.testing.v1 import AppTest

from tests.apptest import read
from tests.coco_cases import tiny_image
from tests.datasets import write_json
from tests.test_app import APP

SUBMIT = "FormSubmitter:import-Import"


def _checkbox(at, start):
    return next(c for c in at.checkbox if c.label.startswith(start))


def test_the_import_report_and_the_update_options(store, tmp_path, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(store.root))
    monkeypatch.setenv("ALS_DATA_ROOTS", str(tmp_path))
    for n in range(2):
        tiny_image(tmp_path / "imgs" / f"{n}.png", size=(16, 16), value=n)
    coco = {"images": [{"id": 0, "file_name": "0.png"}, {"id": 1, "file_name": "1.png"}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": [{"id": 1, "image_id": 0, "category_id": 1, "bbox": [1, 1, 4, 4]},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [2, 2, 5, 5],
                             "iscrowd": 1, "segmentation": {"size": [16, 16], "counts": "x"}}]}
    path = write_json(tmp_path / "c.json", coco)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[1].input(str(tmp_path / "imgs"))
    at.text_input[2].input(str(path))
    at.button(key=SUBMIT).click().run()
    assert not at.exception
    (warning,) = at.warning
    assert "1 image left unlabeled: 1 because it has crowd regions" in read(warning.value)
    assert "'Import crowd regions as ordinary boxes' ticked" in read(warning.value)
    assert any("1.png: left unlabeled, 1 of its 1 annotation is a crowd region" in c.value
               for c in at.code)
    # the lines wrap: cut off at the box's edge, the reason and what to do were hidden
    assert all(c.proto.wrap_lines for c in at.code)
    assert store.count_items(status="labeled") == 1

    _checkbox(at, "Import crowd regions").check()
    at.button(key=SUBMIT).click().run()
    assert any("2 already in the project (1 updated, 1 unchanged)" in read(s.value)
               for s in at.success)
    assert store.count_items(status="labeled") == 2

    changed = copy.deepcopy(coco)
    changed["annotations"][0]["bbox"] = [3, 3, 4, 4]
    write_json(path, changed)
    at.button(key=SUBMIT).click().run()
    assert any("kept their labels" in read(m.value) and "'Replace the labels" in read(m.value)
               for m in [*at.success, *at.warning])
    _checkbox(at, "Replace the labels").check()
    at.button(key=SUBMIT).click().run()
    assert any("(1 updated, 1 unchanged)" in read(s.value) for s in at.success)
    boxes = [a.box.as_list() for anns in store.annotations().values() for a in anns]
    assert [3.0, 3.0, 7.0, 7.0] in boxes
