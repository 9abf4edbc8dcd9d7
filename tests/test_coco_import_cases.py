"""The COCO files of issue 15, as CVAT, Label Studio, Roboflow and converter scripts
write them: each case with its right outcome (labels, classes, report)."""
import hashlib
import json
import unicodedata

import pytest

from al_core.formats.coco_import import import_folder
from al_core.formats.export import coco_instances, export_yolo
from al_core.formats.import_report import CROWD, NO_ANNOTATIONS, OTHER_SIZE, SHARED_ID
from al_core.training.split import parse_distribution, split_project
from tests.coco_cases import item_by_file, pycocotools_boxes, stored_boxes, tiny_image
from tests.datasets import write_json


def _import(store, folder, coco, tmp_path, **options):
    return import_folder(store, folder, coco=write_json(tmp_path / "c.json", coco), **options)


def test_label_studio_paths_are_matched_by_their_file_name(tmp_path, store):
    """Case 1: Label Studio 1.16 writes the path on its server (ids from 0); it was
    refused as escaping the folder and the image imported unlabeled."""
    folder = tmp_path / "export"
    inside = tiny_image(folder / "images" / "cb0618f6-cat_01.png", size=(20, 16), value=1)
    # a different file where the name's '..' would lead: never opened
    decoy = tiny_image(tmp_path / "label-studio" / "media" / "upload" / "4" /
                       "cb0618f6-cat_01.png", size=(20, 16), value=2)
    coco = {"images": [{"id": 0, "file_name": "..\\..\\label-studio\\media\\upload\\4\\"
                        "cb0618f6-cat_01.png", "width": 20, "height": 16}],
            "categories": [{"id": 0, "name": "cat"}],
            "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [1, 2, 5, 6],
                             "iscrowd": 0, "area": 30}]}
    report = _import(store, folder, coco, tmp_path)
    item = item_by_file(store, "images/cb0618f6-cat_01.png")
    assert item.status == "labeled" and report.problems == []
    assert stored_boxes(store, item) == pycocotools_boxes(tmp_path / "c.json")[0]
    assert item.sha256 == hashlib.sha256(inside.read_bytes()).hexdigest()
    assert item.sha256 != hashlib.sha256(decoy.read_bytes()).hexdigest()
    assert any("matched to images/cb0618f6-cat_01.png by its file name" in n
               and "label-studio/media/upload/4/" in n for n in report.notes)


def test_a_name_that_leads_out_of_the_folder_opens_nothing_there(tmp_path, store):
    tiny_image(tmp_path / "imgs" / "a.png", value=1)
    secret = tiny_image(tmp_path / "outside" / "secret.png", value=2)
    coco = {"images": [{"id": 1, "file_name": "../outside/secret.png"},
                       {"id": 2, "file_name": str(secret)}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert [i.file for i in store.items()] == ["a.png"]
    assert report.images_unmatched == 2
    assert all(i.sha256 != hashlib.sha256(secret.read_bytes()).hexdigest()
               for i in store.items())


def test_two_files_with_one_image_id_get_neither_image_s_boxes(tmp_path, store):
    """Case 2: CVAT writes image1.jpg and image1.png both with id 1; the png's box was
    written onto image1.jpg."""
    tiny_image(tmp_path / "imgs" / "image1.jpg", size=(16, 16), value=1)
    tiny_image(tmp_path / "imgs" / "image1.png", size=(16, 16), value=2)
    coco = {"images": [{"id": 1, "file_name": "image1.jpg", "width": 16, "height": 16},
                       {"id": 1, "file_name": "image1.png", "width": 16, "height": 16}],
            "categories": [{"id": 1, "name": "car"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [8, 8, 4, 4]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert report.images_imported == 2 and store.count_items(status="unlabeled") == 2
    assert report.unlabeled == {"image1.jpg": SHARED_ID, "image1.png": SHARED_ID}
    assert coco_instances(store)["annotations"] == []  # nothing lands on the wrong file
    assert report.boxes_rejected == 2
    assert "2 because its image id is also another image's" in report.summary()


def test_an_image_record_without_a_file_name_does_not_give_its_boxes_to_its_id_twin(
        tmp_path, store):
    """A skipped image record (no file_name) shared its id with a.png, and a.png was
    labeled with both records' boxes."""
    tiny_image(tmp_path / "imgs" / "a.png", size=(20, 20))
    coco = {"images": [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": None}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [9, 9, 3, 3]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert store.items()[0].status == "unlabeled"
    assert report.unlabeled == {"a.png": SHARED_ID} and report.boxes_rejected == 2

def test_a_file_without_annotations_leaves_its_images_unlabeled(tmp_path, store):
    """Case 5: COCO's test-dev image-info files have no 'annotations' key; every image
    became labeled with 0 boxes, and split could freeze that 'empty' truth into test."""
    for n in range(3):
        tiny_image(tmp_path / "imgs" / f"{n}.png", value=n)
    coco = {"images": [{"id": n, "file_name": f"{n}.png"} for n in range(3)],
            "categories": [{"id": 1, "name": "person"}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert store.count_items(status="unlabeled") == 3
    assert set(report.unlabeled.values()) == {NO_ANNOTATIONS}
    assert "3 because the file has no 'annotations' list" in report.summary()
    assert sum(split_project(store, seed=0).assigned.values()) == 0  # nothing to split

    coco["annotations"] = []  # present and empty: labeled, no objects
    again = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert (again.items_updated, store.count_items(status="labeled")) == (3, 3)
    assert store.annotations() == {}


def _crowd_file():
    return {"images": [{"id": 1, "file_name": "masks.png", "width": 32, "height": 32}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                 "bbox": [2, 2, 10, 10], "segmentation": [[2, 2, 12, 2, 12, 12]]},
                {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1,
                 "bbox": [14.0, 15.0, 9.0, 7.0],
                 "segmentation": {"size": [32, 32], "counts": [462, 7, 25, 7, 498]}}]}


def test_crowd_regions_leave_the_image_unlabeled_or_become_boxes_when_asked(tmp_path, store):
    """Case 6: CVAT writes masks as iscrowd 1 (RLE, exact bbox); the region was skipped
    and the image stored as labeled without that object."""
    tiny_image(tmp_path / "imgs" / "masks.png", size=(32, 32))
    report = _import(store, tmp_path / "imgs", _crowd_file(), tmp_path)
    item = store.items()[0]
    assert item.status == "unlabeled" and report.unlabeled == {"masks.png": CROWD}
    assert "import with the crowd-as-boxes option" in report.summary()
    assert any("annotation #1 (id 2)" in p and "a crowd region" in p for p in report.problems)

    again = _import(store, tmp_path / "imgs", _crowd_file(), tmp_path, crowd_as_boxes=True)
    assert again.items_updated == 1 and store.item(item.id).status == "labeled"
    assert stored_boxes(store, item) == pycocotools_boxes(tmp_path / "c.json")[1]
    assert any("1 crowd region taken as ordinary boxes" in n for n in again.notes)


def test_a_roboflow_root_category_is_left_out(tmp_path, store):
    """Case 7: Roboflow's root category (the dataset's name, parent of the classes, no
    annotation) became a class: it shifted every YOLO index and added a model output."""
    tiny_image(tmp_path / "imgs" / "a.jpg", size=(20, 20), value=1)
    tiny_image(tmp_path / "imgs" / "b.jpg", size=(20, 20), value=2)
    coco = {"images": [{"id": 0, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}],
            "categories": [{"id": 0, "name": "fish", "supercategory": "none"},
                           {"id": 1, "name": "angelfish", "supercategory": "fish"},
                           {"id": 2, "name": "shark", "supercategory": "fish"}],
            "annotations": [{"id": 0, "image_id": 0, "category_id": 2, "bbox": [1, 1, 5, 5]},
                            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 5, 5]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert [c.name for c in store.classes()] == ["angelfish", "shark"]
    assert any("category 0 'fish': left out" in n for n in report.notes)
    split_project(store, distribution=parse_distribution("1/0/0"))
    export_yolo(store, tmp_path / "yolo")
    import yaml

    names = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())["names"]
    assert list(names.values() if isinstance(names, dict) else names) == ["angelfish", "shark"]
    shark = (tmp_path / "yolo" / "labels" / "train" / "a.txt").read_text().split()[0]
    assert names[int(shark)] == "shark"


def test_a_category_with_annotations_is_kept_even_when_it_is_a_supercategory(tmp_path, store):
    tiny_image(tmp_path / "imgs" / "a.png", size=(20, 20))
    coco = {"images": [{"id": 1, "file_name": "a.png"}],
            "categories": [{"id": 1, "name": "animal"},
                           {"id": 2, "name": "dog", "supercategory": "animal"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}
    _import(store, tmp_path / "imgs", coco, tmp_path)
    assert [c.name for c in store.classes()] == ["animal", "dog"]


def test_ids_and_values_as_real_files_write_them(tmp_path, store):
    """Build item 4: string ids (numeric or not), ids from 0, repeated annotation ids,
    categories out of order with gaps, numeric-string bboxes, no width/height."""
    for n, name in enumerate(["0.png", "seq_a.png", "b.png"]):
        tiny_image(tmp_path / "imgs" / name, size=(24, 18), value=n)
    coco = {"images": [{"id": 0, "file_name": "0.png"},
                       {"id": "0000001_02999_d_0000005", "file_name": "seq_a.png"},
                       {"id": "7", "file_name": "b.png", "width": "24", "height": "18"}],
            "categories": [{"id": 40, "name": "van"}, {"id": "3", "name": "bus"},
                           {"id": 17, "name": "car"}],
            "annotations": [
                {"id": 5, "image_id": 0, "category_id": 17, "bbox": ["1", "2.5", "4", "3"]},
                {"id": 5, "image_id": 0, "category_id": "3", "bbox": [6, 6, 2, 2]},
                {"id": 5, "image_id": "0000001_02999_d_0000005", "category_id": 40,
                 "bbox": [0, 0, 10, 10]},
                {"id": 0, "image_id": "7", "category_id": 17, "bbox": [3, 3, 3, 3]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert report.problems == [] and report.items_labeled == 3
    assert [c.name for c in store.classes()] == ["bus", "car", "van"]  # in category-id order
    expected = pycocotools_boxes(tmp_path / "c.json")
    for image in coco["images"]:
        assert stored_boxes(store, item_by_file(store, image["file_name"])) == \
            expected[image["id"]], image


def test_an_image_whose_size_is_not_the_files_is_left_unlabeled(tmp_path, store):
    """A phone photo turned by its EXIF orientation, labeled in a tool that ignored it:
    COCO says 60x40 and the file shows 40x60. Its boxes were clipped to the turned picture
    and it was stored as labeled with boxes in the wrong frame. A size of 0 (some
    converters write it for 'unknown') is no size."""
    from PIL import Image

    tmp_path.joinpath("imgs").mkdir()
    photo = Image.new("RGB", (60, 40))
    exif = photo.getexif()
    exif[0x0112] = 6  # rotate 90 degrees to show
    photo.save(tmp_path / "imgs" / "phone.jpg", exif=exif)
    tiny_image(tmp_path / "imgs" / "small.png", size=(30, 20), value=1)
    tiny_image(tmp_path / "imgs" / "zero.png", size=(30, 20), value=2)
    coco = {"images": [{"id": 1, "file_name": "phone.jpg", "width": 60, "height": 40},
                       {"id": 2, "file_name": "small.png", "width": 60, "height": 40},
                       {"id": 3, "file_name": "zero.png", "width": 0, "height": 0}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": n, "image_id": n, "category_id": 1, "bbox": [2, 2, 8, 8]}
                            for n in (1, 2, 3)]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert report.unlabeled == {"phone.jpg": OTHER_SIZE, "small.png": OTHER_SIZE}
    assert "phone.jpg: left unlabeled, the COCO file says 60x40, the image is 40x60: it is " \
        "turned by its EXIF orientation" in report.problems[0]
    assert report.boxes_imported == 1 and report.boxes_rejected == 2
    assert [i.file for i in store.items(status="labeled")] == ["zero.png"]

    coco["images"][0].update(width=40, height=60)  # fixed: the sizes the files show
    del coco["images"][1]["width"]
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert report.items_updated == 2 and not report.unlabeled
    assert stored_boxes(store, item_by_file(store, "phone.jpg")) == [("x", 2.0, 2.0, 8.0, 8.0)]

def _photo(path, size, orientation):
    """A JPEG of ``size`` whose EXIF orientation tag is ``orientation``."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    photo = Image.new("RGB", size)
    exif = photo.getexif()
    exif[0x0112] = orientation
    photo.save(path, exif=exif)


def test_a_swapped_size_is_blamed_on_exif_only_where_the_file_has_an_exif_orientation(
        tmp_path, store):
    """Any COCO size that was the file's swapped was reported as 'turned by its EXIF
    orientation', also for a file with no EXIF at all; so in import --selection too."""
    from al_core.review.external import import_selection
    from al_core.types import SelectionItem

    _photo(tmp_path / "imgs" / "phone.jpg", (60, 40), 6)  # shown 40x60
    tiny_image(tmp_path / "imgs" / "plain.png", size=(40, 60))
    _photo(tmp_path / "imgs" / "upside.jpg", (40, 60), 3)  # turned 180 degrees: still 40x60
    coco = {"images": [{"id": n, "file_name": name, "width": 60, "height": 40}
                       for n, name in enumerate(["phone.jpg", "plain.png", "upside.jpg"])],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": n, "image_id": n, "category_id": 1, "bbox": [2, 2, 8, 8]}
                            for n in range(3)]}
    exif = "it is turned by its EXIF orientation, which the labeling tool probably ignored: " \
        "its boxes are for the unturned picture"
    swapped = "its recorded width and height are swapped (the file has no EXIF orientation " \
        "that turns it), so its boxes may be for a turned picture"
    said = "left unlabeled, the COCO file says 60x40, the image is 40x60"
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert report.problems == [f"phone.jpg: {said}: {exif}", f"plain.png: {said}: {swapped}",
                               f"upside.jpg: {said}: {swapped}"]

    ids = [item_by_file(store, name).id for name in ("phone.jpg", "plain.png", "upside.jpg")]
    store.add_selection(tag="b", round=1, strategy="random", config={}, seed=0, model_id=None,
                        items=[SelectionItem(i, n, None, False) for n, i in enumerate(ids)])
    report = import_selection(store, "b", write_json(tmp_path / "fixed.json", coco))
    assert [p.split(": ", 1)[1] for p in report.problems] == [
        f"{said}: {w}; it is left as it was" for w in (exif, swapped, swapped)]


def test_a_number_and_a_string_holding_it_are_one_id(tmp_path, store):
    tiny_image(tmp_path / "imgs" / "a.png", size=(20, 20))
    coco = {"images": [{"id": 12, "file_name": "a.png"}],
            "categories": [{"id": "1", "name": "x"}],
            "annotations": [{"id": 1, "image_id": "12", "category_id": 1.0,
                             "bbox": [1, 1, 5, 5]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert report.items_labeled == 1 and report.boxes_imported == 1


def test_a_category_id_that_names_two_classes_leaves_its_images_unlabeled(tmp_path, store):
    tiny_image(tmp_path / "imgs" / "a.png", size=(20, 20), value=1)
    tiny_image(tmp_path / "imgs" / "b.png", size=(20, 20), value=2)
    coco = {"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
            "categories": [{"id": 1, "name": "cat"}, {"id": 1, "name": "dog"},
                           {"id": 2, "name": "bird"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
                            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [1, 1, 5, 5]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert item_by_file(store, "a.png").status == "unlabeled" and "a.png" in report.unlabeled
    assert item_by_file(store, "b.png").status == "labeled"
    assert any("category id 1 names two categories" in p for p in report.problems)


def test_file_names_as_exporters_spell_them(tmp_path, store):
    """Build item 3: separators, percent-escapes, Unicode form, extension case; two
    files that fit equally match neither."""
    files = {"my cat.png": 1, "Ünïcode.png": 2, "IMG_0001.JPG": 3, "a/dup.png": 4,
             "b/dup.png": 5, "a/deep/x.png": 6}
    for name, value in files.items():
        tiny_image(tmp_path / "imgs" / name, size=(12, 12), value=value)
    names = {1: "/data/upload/my%20cat.png", 2: unicodedata.normalize("NFD", "Ünïcode.png"),
             3: "IMG_0001.jpg", 4: "C:\\export\\dup.png", 5: "x\\b\\dup.png",
             6: "deep/x.png"}
    coco = {"images": [{"id": k, "file_name": v} for k, v in names.items()],
            "categories": [{"id": 1, "name": "thing"}],
            "annotations": [{"id": k, "image_id": k, "category_id": 1, "bbox": [1, 1, 3, 3]}
                            for k in names]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    labeled = {i.file for i in store.items(status="labeled")}
    assert labeled == {"my cat.png", "Ünïcode.png", "IMG_0001.JPG", "b/dup.png", "a/deep/x.png"}
    assert any("C:\\export\\dup.png" in p and "matched neither of a/dup.png, b/dup.png" in p
               for p in report.problems)
    assert report.images_unmatched == 1
    notes = "\n".join(report.notes)
    assert "after decoding its %-escapes" in notes and "spelled differently" in notes


def test_the_report_says_what_to_do(tmp_path, store):
    """Build item 5: per image in plain words, and a summary a user can act on."""
    for n in range(3):
        tiny_image(tmp_path / "imgs" / f"{n}.png", size=(10, 10), value=n)
    coco = {"images": [{"id": n, "file_name": f"{n}.png"} for n in range(3)]
            + [{"id": 9, "file_name": "gone.png"}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 0, "category_id": 1, "bbox": [1, 1, 0, 3]},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]},
                            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [20, 20, 3, 3]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert "0.png: left unlabeled, 1 of its 1 annotation could not be imported" in \
        report.problems
    assert "1.png: left unlabeled, 1 of its 2 annotations could not be imported" in \
        report.problems
    summary = report.summary()
    assert summary.startswith("3 of 3 images imported")
    assert ("2 images left unlabeled: 2 because an annotation of it could not be "
            "imported. Fix the file and import it again: they will be updated.") in summary
    assert "1 image of the COCO file matched no image in the folder" in summary
    assert store.count_items(status="labeled") == 1  # 2.png: listed, no annotations



def test_the_report_counts_in_plain_words(tmp_path, store):
    """The summary read '1 boxes imported ..., 1 annotations not imported, 1 problems'."""
    tiny_image(tmp_path / "imgs" / "a.png", size=(10, 10))
    coco = {"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "gone.png"}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]},
                            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 3, 3]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert report.summary().startswith(
        "1 of 1 images imported, 1 labeled; 1 box imported (0 clipped to the image), "
        "1 annotation not imported, 0 pre-label boxes, 1 problem. 1 image of the COCO file")

@pytest.mark.parametrize("bbox", [[1, 1, 3], None, ["a", 1, 2, 3], [1, 1, "nan", 3]])
def test_an_unreadable_bbox_leaves_the_image_unlabeled(tmp_path, store, bbox):
    tiny_image(tmp_path / "imgs" / "a.png", size=(10, 10))
    coco = {"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": bbox}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert store.items()[0].status == "unlabeled" and list(report.unlabeled) == ["a.png"]


def test_a_box_over_the_edge_is_clipped_and_the_image_labeled(tmp_path, store):
    tiny_image(tmp_path / "imgs" / "a.png", size=(10, 8))
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 8}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [6, 5, 9, 9]}]}
    report = _import(store, tmp_path / "imgs", coco, tmp_path)
    assert report.boxes_clipped == 1 and report.items_labeled == 1
    assert stored_boxes(store, store.items()[0]) == [("x", 6.0, 5.0, 4.0, 3.0)]


def test_the_cli_prints_the_report_and_takes_the_options(tmp_path):
    from tests.test_cli import cli

    tiny_image(tmp_path / "imgs" / "masks.png", size=(32, 32))
    coco = write_json(tmp_path / "c.json", _crowd_file())
    p = tmp_path / "p"
    out = cli("import", "--project", p, "--images", tmp_path / "imgs", "--coco", coco).stdout
    assert "masks.png: left unlabeled, 1 of its 2 annotations is a crowd region" in out
    assert "import with --crowd-as-boxes" in out
    out = cli("import", "--project", p, "--images", tmp_path / "imgs", "--coco", coco,
              "--crowd-as-boxes").stdout
    assert "1 already in the project (1 updated, 0 unchanged)" in out
    data = _crowd_file()
    data["annotations"].pop()
    write_json(tmp_path / "c.json", data)
    out = cli("import", "--project", p, "--images", tmp_path / "imgs", "--coco", coco).stdout
    assert "note: masks.png (item #1): keeps its 2 boxes" in out
    assert "import again with --replace-labels" in out
    out = cli("import", "--project", p, "--images", tmp_path / "imgs", "--coco", coco,
              "--replace-labels").stdout
    assert "its 2 boxes replaced by the file's 1" in out
    assert json.loads(cli("status", "--project", p, "--json").stdout)["labeled"] == 1


def test_a_corrected_selection_with_cvat_masks_takes_the_advice_it_gives(tmp_path):
    """import --selection left an image with a CVAT mask (iscrowd 1) unlabeled and said
    'import with --crowd-as-boxes', which the command then refused with --selection."""
    from al_core.store import Store
    from al_core.types import SelectionItem
    from tests.test_cli import cli

    tiny_image(tmp_path / "imgs" / "masks.png", size=(32, 32))
    coco = write_json(tmp_path / "c.json", _crowd_file())
    p = tmp_path / "p"
    cli("import", "--project", p, "--images", tmp_path / "imgs")
    with Store(p) as s:
        s.add_selection(tag="b", round=1, strategy="random", config={}, seed=0, model_id=None,
                        items=[SelectionItem(s.query_pool()[0], 0, None, False)])
    out = cli("import", "--project", p, "--selection", "b", "--coco", coco).stdout
    assert "left unlabeled, 1 of its 2 annotations" in out
    assert "import with --crowd-as-boxes" in out
    out = cli("import", "--project", p, "--selection", "b", "--coco", coco,
              "--crowd-as-boxes").stdout
    assert "1 crowd region taken as ordinary boxes" in out
    with Store(p) as s:
        assert stored_boxes(s, s.items()[0]) == [("person", 2.0, 2.0, 10.0, 10.0),
                                                 ("person", 14.0, 15.0, 9.0, 7.0)]
