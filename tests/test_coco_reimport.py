"""Importing a COCO file again labels the images it left unlabeled, and replaces labels
only when asked, with the edit history kept (issue 15, build item 2)."""
import copy
import json
import time

from al_core.formats.coco_import import import_folder
from al_core.formats.import_report import HELD
from al_core.training.split import parse_distribution, split_project
from tests.coco_cases import item_by_file, pycocotools_boxes, stored_boxes, tiny_image
from tests.datasets import write_json


def _folder(tmp_path, n=4):
    for k in range(n):
        tiny_image(tmp_path / "imgs" / f"{k}.png", size=(30, 20), value=k)
    return tmp_path / "imgs"


def _coco(n=4):
    return {"images": [{"id": k, "file_name": f"{k}.png", "width": 30, "height": 20}
                       for k in range(n)],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
            "annotations": [{"id": 10 * k + j, "image_id": k, "category_id": 1 + j % 2,
                             "bbox": [1 + j, 2, 5, 4]} for k in range(n) for j in range(k)]}


def _assert_each_image_has_its_file_s_boxes(store, coco_file):
    expected = pycocotools_boxes(coco_file)
    for image in json.loads(coco_file.read_text())["images"]:
        item = item_by_file(store, image["file_name"])
        assert item.status == "labeled" and stored_boxes(store, item) == expected[image["id"]]


def test_a_faulty_file_fixed_and_imported_again_labels_every_image_exactly(tmp_path, store):
    folder, good = _folder(tmp_path), _coco()
    faulty = copy.deepcopy(good)
    faulty["images"].append({"id": 3, "file_name": "0.png"})  # 0.png: id 3 twice
    faulty["annotations"][0]["bbox"] = [1, 1, 0, 4]  # 1.png: a zero-width box
    faulty["annotations"][1]["iscrowd"] = 1  # 2.png: a crowd region
    faulty["images"][0]["file_name"] = "../elsewhere/0.png"  # matched by its name
    first = import_folder(store, folder, coco=write_json(tmp_path / "f.json", faulty))
    assert first.images_imported == 4 and first.items_labeled == 0
    assert set(first.unlabeled) == {"0.png", "1.png", "2.png", "3.png"}
    assert store.count_items(status="labeled") == 0

    fixed = write_json(tmp_path / "fixed.json", good)
    again = import_folder(store, folder, coco=fixed)
    assert (again.images_imported, again.items_updated, again.items_unchanged) == (0, 4, 0)
    assert again.problems == [] and again.unlabeled == {}
    _assert_each_image_has_its_file_s_boxes(store, fixed)
    assert "4 already in the project (4 updated, 0 unchanged)" in again.summary()

    third = import_folder(store, folder, coco=fixed)  # nothing left to do
    assert (third.items_updated, third.items_unchanged, third.notes) == (0, 4, [])


def test_labeled_images_keep_their_labels_unless_replacing_is_asked(tmp_path, store):
    folder, coco = _folder(tmp_path), _coco()
    import_folder(store, folder, coco=write_json(tmp_path / "a.json", coco))
    item = item_by_file(store, "2.png")
    changed = copy.deepcopy(coco)
    changed["annotations"] = [a for a in changed["annotations"] if a["image_id"] != 2] + [
        {"id": 99, "image_id": 2, "category_id": 2, "bbox": [10, 10, 8, 8]}]
    path = write_json(tmp_path / "b.json", changed)
    kept = import_folder(store, folder, coco=path)
    assert (kept.items_updated, kept.items_unchanged, kept.labels_kept) == (0, 4, 1)
    assert len(stored_boxes(store, item)) == 2
    assert any("2.png (item" in n and "keeps its 2 boxes" in n for n in kept.notes)
    assert "1 image already labeled in the project kept their labels" in kept.summary()

    replaced = import_folder(store, folder, coco=path, replace_labels=True)
    assert (replaced.items_updated, replaced.items_unchanged) == (1, 3)
    assert stored_boxes(store, item) == [("b", 10.0, 10.0, 8.0, 8.0)]
    history = store.label_history(item.id)
    assert [len(h["after"]) for h in history] == [2, 1]  # the old labels stay on record
    assert history[-1]["before"] == history[0]["after"]
    assert history[-1]["reason"] == "updated from COCO" and history[-1]["author"] == \
        "import:b.json"
    assert store.item(item.id).labeled_round is None  # no made-up query round


def test_updating_the_frozen_test_split_says_so(tmp_path, store):
    folder, coco = _folder(tmp_path), _coco()
    import_folder(store, folder, coco=write_json(tmp_path / "a.json", coco))
    split_project(store, distribution=parse_distribution("0/0/1"))
    before = store.test_set_identity()[1]
    coco["annotations"][0]["bbox"] = [2, 2, 9, 9]
    report = import_folder(store, folder, coco=write_json(tmp_path / "b.json", coco),
                           replace_labels=True)
    assert report.items_updated == 1
    assert any("in the test split" in n for n in report.notes)
    assert store.test_set_identity()[1] != before


def test_an_image_an_annotator_has_open_is_left_alone(tmp_path, store):
    folder, coco = _folder(tmp_path), _coco()
    faulty = copy.deepcopy(coco)
    faulty["annotations"][0]["category_id"] = 77
    import_folder(store, folder, coco=write_json(tmp_path / "a.json", faulty))
    item = item_by_file(store, "1.png")
    assert item.status == "unlabeled"
    store.claim(item.id, "ana", seconds=600)
    report = import_folder(store, folder, coco=write_json(tmp_path / "b.json", coco))
    assert report.unlabeled == {f"1.png (item #{item.id})": HELD}
    assert store.item(item.id).status == "unlabeled"
    store.claim(item.id, "ana", seconds=-time.time())  # the lease ends
    assert import_folder(store, folder, coco=tmp_path / "b.json").items_updated == 1


def test_re_import_of_a_referenced_folder_and_chunks(tmp_path, store, monkeypatch):
    """The update of existing images is one transaction, new images still go in chunks."""
    from al_core.formats import coco_import as io_coco

    monkeypatch.setattr(io_coco, "IMPORT_CHUNK", 2)
    folder, coco = _folder(tmp_path, 6), _coco(6)
    faulty = copy.deepcopy(coco)
    faulty["images"] = faulty["images"][:3]
    faulty["annotations"] = [dict(a, bbox="x") for a in faulty["annotations"]]
    first = import_folder(store, folder, coco=write_json(tmp_path / "a.json", faulty),
                          reference=True)
    assert (first.images_imported, first.items_labeled) == (6, 1)  # 0.png: no annotation
    writes = []
    real = store.write

    def counted():  # the transactions, not the savepoints nested in them
        writes.append(not store.db.conn.in_transaction)
        return real()
    monkeypatch.setattr(store, "write", counted)
    again = import_folder(store, folder, coco=write_json(tmp_path / "b.json", coco),
                          reference=True)
    assert (again.items_updated, again.items_unchanged) == (5, 1)
    assert sum(writes) == 2  # the update, and the (empty) first chunk of new images
    _assert_each_image_has_its_file_s_boxes(store, tmp_path / "b.json")
