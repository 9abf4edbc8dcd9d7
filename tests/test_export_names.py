"""An export never loses an image (issue 24, kind 7): the YOLO export names every image
so that no two items write one image or one label file, also where file names differ only
in letter case, Unicode normal form or extension (one file on Windows and macOS; one
label stem for ``img.jpg`` and ``img.png``), and the counts it reports are the files it
wrote. Images are read back by their bytes, labels from the label files. The COCO
exports give two images of one relative path (two folders) two file names, and an
import never copies two images to names one on those file systems."""
from __future__ import annotations

import json
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from al_core.formats.export import coco_instances, export_coco, export_yolo
from al_core.store import Store
from al_core.types import Box, LabeledBox

W, H = 100, 50


def _add(store: Store, src: Path, k: int, file: str, split: str | None, n_boxes: int) -> int:
    """Item ``k``: ``file`` under a root of its own (so any two items may share a name),
    its bytes naming it, ``n_boxes`` boxes of its own."""
    root = src / str(k)
    (root / file).parent.mkdir(parents=True, exist_ok=True)
    (root / file).write_bytes(f"item {k}".encode())
    item = store.add_item(file=file, width=W, height=H, sha256=f"{k:064x}", source="test",
                          root=str(root))
    store.set_labels(item, [LabeledBox(1 + b % 2, Box(k % 50, b, k % 50 + 10 + b, 20 + b))
                            for b in range(n_boxes)], source="human")
    store.set_splits({item: split})
    return item


def _read_back(store: Store, out: Path) -> dict[int, list[tuple[int, list[float]]]]:
    """item id -> its label rows, found through the image files the export wrote; fails
    when an image is missing, repeated or has no label file."""
    by_bytes = {store.image_path(i).read_bytes(): i.id for i in store.items()}
    got: dict[int, list[tuple[int, list[float]]]] = {}
    for image in sorted((out / "images").rglob("*")):
        if image.is_dir():
            continue
        item = by_bytes[image.read_bytes()]
        assert item not in got, f"item {item} written twice"
        rel = image.relative_to(out / "images")
        text = (out / "labels" / rel).with_suffix(".txt").read_text(encoding="utf-8")
        got[item] = [(int(r[0]), [float(v) for v in r[1:]])
                     for r in (line.split() for line in text.splitlines())]
    return got


def _want(store: Store) -> dict[int, list[tuple[int, list[float]]]]:
    index = {c.id: k for k, c in enumerate(store.classes())}
    return {i: [(index[a.class_id], [round((a.box.x1 + a.box.x2) / 2 / W, 6),
                                     round((a.box.y1 + a.box.y2) / 2 / H, 6),
                                     round((a.box.x2 - a.box.x1) / W, 6),
                                     round((a.box.y2 - a.box.y1) / H, 6)])
                for a in anns] for i, anns in store.annotations(
                    [i.id for i in store.items()]).items()}


def _folded_files(out: Path) -> list[str]:
    return [unicodedata.normalize("NFC", str(p.relative_to(out))).casefold()
            for p in out.rglob("*") if p.is_file()]


def test_a_real_stem_dash_id_beside_a_renamed_image_keeps_both(store, tmp_path):
    """c/img.jpg (item 4) and c/img.png share a label file, so item 4 is renamed; the name
    c/img-4.jpg is a real image's, so item 4 becomes c/img-4-2.jpg and nothing is lost."""
    store.ensure_classes(["a", "b"])
    for k in range(1, 4):
        _add(store, tmp_path / "src", k, f"other{k}.jpg", "train", 1)
    assert _add(store, tmp_path / "src", 4, "c/img.jpg", "train", 5) == 4
    assert _add(store, tmp_path / "src", 5, "c/img.png", "train", 2) == 5
    assert _add(store, tmp_path / "src", 6, "c/img-4.jpg", "train", 5) == 6
    counts = export_yolo(store, tmp_path / "y")
    images = sorted(str(p.relative_to(tmp_path / "y" / "images" / "train"))
                    for p in (tmp_path / "y" / "images" / "train").rglob("*.*"))
    assert images == ["c/img-4-2.jpg", "c/img-4.jpg", "c/img-5.png", "other1.jpg",
                      "other2.jpg", "other3.jpg"]
    assert (tmp_path / "y/images/train/c/img-4.jpg").read_bytes() == b"item 6"
    assert (tmp_path / "y/images/train/c/img-4-2.jpg").read_bytes() == b"item 4"
    assert counts == {"images": 6, "annotations": 15, "categories": 2}
    assert _read_back(store, tmp_path / "y") == _want(store)


def test_names_one_in_letter_case_or_normal_form_are_two_files_everywhere(store, tmp_path):
    store.ensure_classes(["a", "b"])
    for k, name in enumerate(["IMG.jpg", "img.jpg", "caf\u00e9.png", "cafe\u0301.png",
                              "x.jpg", "x.jpg/y.png"], 1):
        _add(store, tmp_path / "src", k, name, None, 1)
    export_yolo(store, tmp_path / "y")
    images = sorted(str(p.relative_to(tmp_path / "y" / "images" / "unsplit"))
                    for p in (tmp_path / "y" / "images" / "unsplit").rglob("*.*")
                    if p.is_file())
    assert images == ["IMG-1.jpg", "cafe\u0301-4.png", "caf\u00e9-3.png", "img-2.jpg",
                      "x-5.jpg", "x.jpg/y.png"]
    assert _read_back(store, tmp_path / "y") == _want(store)


FOLDERS = st.sampled_from(["", "c/", "C/", "c/d/", "img-4/"])
STEMS = st.sampled_from(["img", "IMG", "img-1", "img-2", "img-3", "Img-4", "img-1-2",
                         "img-2-2", "caf\u00e9", "cafe\u0301", "x.jpg"])
EXTS = st.sampled_from([".jpg", ".png", ".JPG", ".webp"])
TREES = st.lists(st.tuples(FOLDERS, STEMS, EXTS, st.sampled_from([None, "train", "val"]),
                           st.integers(0, 3)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=TREES)
def test_every_exported_image_is_one_item_with_exactly_its_boxes(tree):
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "p", create=True) as store:
        store.ensure_classes(["a", "b"])
        for k, (folder, stem, ext, split, n_boxes) in enumerate(tree, 1):
            _add(store, Path(tmp) / "src", k, folder + stem + ext, split, n_boxes)
        out = Path(tmp) / "y"
        counts = export_yolo(store, out)
        assert _read_back(store, out) == _want(store)
        folded = _folded_files(out)
        assert len(folded) == len(set(folded))  # one file each on Windows and macOS too
        assert counts["images"] == len(list((out / "images").rglob("*.*"))) == len(tree)
        assert counts["annotations"] == sum(n for *_, n in tree) == sum(
            len((p.read_text().splitlines())) for p in (out / "labels").rglob("*.txt"))


def test_the_export_refuses_to_report_more_images_than_it_wrote(store, tmp_path,
                                                                  monkeypatch):
    import al_core.formats.export as export

    store.ensure_classes(["a", "b"])
    _add(store, tmp_path / "src", 1, "img.jpg", "train", 1)
    _add(store, tmp_path / "src", 2, "img.png", "train", 1)
    monkeypatch.setattr(export, "_yolo_names", lambda items: {
        i.id: export.PurePosixPath("img.jpg") for i in items})  # the old mistake
    with pytest.raises(ValueError, match="wrote 1 images and 1 label files for 2 items"):
        export_yolo(store, tmp_path / "y")
    assert not (tmp_path / "y").exists()


def _two_folders_one_name(store: Store, tmp_path: Path, *, labeled: bool) -> list[int]:
    """img.jpg in the project's images folder and in referenced folders a/cam and b/cam,
    c.jpg in a/cam only; when ``labeled`` each with one box of its own."""
    store.ensure_classes(["a", "b"])
    ids = []
    for k, (root, file) in enumerate([("", "img.jpg"), ("a/cam", "img.jpg"),
                                      ("b/cam", "img.jpg"), ("a/cam", "c.jpg")], 1):
        folder = tmp_path / root if root else store.images_dir
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_bytes(f"item {k}".encode())
        item = store.add_item(file=file, width=W, height=H, sha256=f"{k:064x}", source="t",
                              root=str(folder) if root else "")
        if labeled:
            store.set_labels(item, [LabeledBox(1, Box(k, k, 20, 20))], source="human")
        ids.append(item)
    return ids


def test_coco_exports_name_one_path_in_two_folders_apart(store, tmp_path):
    ids = _two_folders_one_name(store, tmp_path, labeled=True)
    want = {ids[0]: "project/images/img.jpg", ids[1]: "a/cam/img.jpg", ids[2]: "b/cam/img.jpg",
            ids[3]: "c.jpg"}
    assert {i["id"]: i["file_name"] for i in coco_instances(store)["images"]} == want
    export_coco(store, tmp_path / "all.json")
    data = json.loads((tmp_path / "all.json").read_text())
    assert {i["id"]: i["file_name"] for i in data["images"]} == want


def test_a_selection_with_one_path_in_two_folders_goes_out_and_back_whole(store, tmp_path):
    from al_core.review.external import import_selection
    from al_core.types import SelectionItem

    ids = _two_folders_one_name(store, tmp_path, labeled=False)
    store.add_selection(tag="b", round=1, strategy="random", config={}, seed=0, model_id=None,
                        items=[SelectionItem(i, n, None, False) for n, i in enumerate(ids)])
    export_coco(store, tmp_path / "batch.json", selection="b")
    data = json.loads((tmp_path / "batch.json").read_text())
    assert [i["file_name"] for i in data["images"]] == [
        "project/images/img.jpg", "a/cam/img.jpg", "b/cam/img.jpg", "c.jpg"]
    data["annotations"] = [{"id": n, "image_id": i, "category_id": 1,
                            "bbox": [n, n, 10, 10]} for n, i in enumerate(ids, 1)]
    (tmp_path / "fixed.json").write_text(json.dumps(data))
    report = import_selection(store, "b", tmp_path / "fixed.json")
    assert report.problems == [] and report.items_labeled == 4
    assert {i: [a.box.x1 for a in anns] for i, anns in store.annotations(ids).items()} == {
        i: [float(n)] for n, i in enumerate(ids, 1)}


def test_an_import_stores_names_one_in_letter_case_or_form_apart(store, tmp_path):
    """Copied into the project, IMG.png, img.png, café.png and cafe\\u0301.png would be
    two files on Windows and macOS: the second of each is stored under a new name. A
    referenced folder keeps its names."""
    from al_core.formats.coco_import import import_folder
    from tests.datasets import write_dataset

    write_dataset(tmp_path / "gen", 4, nested=False)
    (tmp_path / "in").mkdir()
    for src, name in zip(sorted((tmp_path / "gen").iterdir()),
                         ["IMG.png", "img.png", "caf\u00e9.png", "cafe\u0301.png"]):
        src.rename(tmp_path / "in" / name)
    report = import_folder(store, tmp_path / "in")
    assert report.images_imported == 4
    assert sorted(i.file for i in store.items()) == [
        "IMG.png", "cafe\u0301.png", "caf\u00e9~2.png", "img~2.png"]
    assert [p for p in report.problems if "stored as" in p] == [
        "caf\u00e9.png: stored as caf\u00e9~2.png, a different image of that name is "
        "already in the project",  # the first of two, sorted by name, keeps its name
        "img.png: stored as img~2.png, a different image of that name is already in the "
        "project"]
    with Store(tmp_path / "ref", create=True) as ref:
        import_folder(ref, tmp_path / "in", reference=True)
        assert sorted(i.file for i in ref.items()) == sorted(
            p.name for p in (tmp_path / "in").iterdir())


def test_a_coco_name_made_from_the_item_id_is_checked_against_every_other_name():
    """img.jpg in /x and /y: their folder-qualified names are taken by a project image
    (x/img.jpg), so the item id is added, and x/img-1.jpg is itself another image's
    name: it went out twice, and import --selection then matched neither."""
    from types import SimpleNamespace

    from al_core.formats.coco_names import export_file_names
    items = [SimpleNamespace(id=1, file="img.jpg", root="/x"),
             SimpleNamespace(id=2, file="img.jpg", root="/y"),
             SimpleNamespace(id=3, file="x/img.jpg", root=""),
             SimpleNamespace(id=4, file="x/img-1.jpg", root="")]
    names = export_file_names(items, "/project/images")
    assert names == {3: "x/img.jpg", 4: "x/img-1.jpg", 1: "x/img-1-2.jpg",
                     2: "y/img-2.jpg"}
    assert len(set(names.values())) == len(items)
