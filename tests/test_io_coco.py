import json
from pathlib import Path

import pytest

from al_core.formats.coco_import import ImportFailed, import_folder, safe_relative
from al_core.formats.export import coco_instances, export_coco, export_yolo
from al_core.store import Store
from tests.datasets import add_bad_inputs, write_dataset, write_json


def _canonical(coco: dict) -> tuple:
    """Images, categories and boxes, independent of ids and ordering."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {i["id"]: i["file_name"] for i in coco["images"]}
    images = sorted((i["file_name"], i["width"], i["height"]) for i in coco["images"])
    boxes = sorted((files[a["image_id"]], names[a["category_id"]],
                    *(round(v, 6) for v in a["bbox"])) for a in coco["annotations"])
    return images, sorted(names.values()), boxes


def test_import_then_export_round_trips_images_categories_and_boxes(tmp_path, store):
    coco = write_dataset(tmp_path / "imgs", 12)
    report = import_folder(store, tmp_path / "imgs", coco=write_json(tmp_path / "a.json", coco))
    assert report.problems == []
    assert (report.images_imported, report.items_labeled) == (12, 12)
    assert report.boxes_imported == len(coco["annotations"])
    export_coco(store, tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    assert _canonical(out) == _canonical(coco)
    for image in out["images"]:  # the files were copied into the project
        assert (store.images_dir / image["file_name"]).read_bytes() == \
            (tmp_path / "imgs" / image["file_name"]).read_bytes()


def test_re_importing_the_export_into_a_new_project_gives_the_same_labels(tmp_path, store):
    coco = write_dataset(tmp_path / "imgs", 9, seed=4)
    import_folder(store, tmp_path / "imgs", coco=write_json(tmp_path / "a.json", coco))
    first = coco_instances(store)
    with Store(tmp_path / "second", create=True) as other:
        import_folder(other, store.images_dir, coco=write_json(tmp_path / "b.json", first))
        assert _canonical(coco_instances(other)) == _canonical(first)


def test_bad_inputs_are_reported_and_the_good_ones_imported(tmp_path, store):
    folder, outside = tmp_path / "imgs", tmp_path / "outside"
    outside.mkdir()
    coco = write_dataset(folder, 12)
    good_boxes = len(coco["annotations"])
    expected = add_bad_inputs(folder, coco, outside)
    report = import_folder(store, folder, coco=write_json(tmp_path / "bad.json", coco))
    for where, message in expected.items():
        assert any(where in p and message in p for p in report.problems), (where, message)
    # the image with bad annotations and the image listed twice stay unlabeled, whole
    # (before issue 15 both were stored as labeled with the boxes that could be read)
    bad = {coco["images"][1]["file_name"], coco["images"][3]["file_name"]}
    assert set(report.unlabeled) == bad
    assert report.images_imported == 12 and report.items_labeled == 10
    kept = [a for a in coco["annotations"][:good_boxes]
            if a["image_id"] not in (coco["images"][1]["id"], coco["images"][3]["id"])]
    assert report.boxes_imported == len(kept) and report.boxes_clipped == 0
    assert report.boxes_rejected == len(coco["annotations"]) - len(kept)
    assert {i.file for i in store.items()} == {i["file_name"] for i in coco["images"][:12]}
    assert {i.file for i in store.items(status="unlabeled")} == bad
    assert "2 images left unlabeled" in report.summary()
    assert "Fix the file and import it again: they will be updated" in report.summary()


@pytest.mark.parametrize("text, message", [
    ('{"images": [', "not valid JSON at line 1 column"),
    ('[1, 2]', "expected a JSON object"),
    ('{"images": {}, "categories": []}', "'images' is missing or not a list"),
    ('{"images": [], "categories": [], "annotations": 3}', "'annotations' is not a list"),
])
def test_malformed_coco_is_refused_and_nothing_is_written(tmp_path, store, text, message):
    write_dataset(tmp_path / "imgs", 3)
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(ImportFailed, match=message):
        import_folder(store, tmp_path / "imgs", coco=tmp_path / "bad.json")
    assert store.count_items() == 0 and not any(store.images_dir.rglob("*.*"))


def test_a_failure_while_writing_rolls_back_rows_and_copied_files(tmp_path, store, monkeypatch):
    coco = write_dataset(tmp_path / "imgs", 6)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "set_labels", broken)
    with pytest.raises(RuntimeError):
        import_folder(store, tmp_path / "imgs", coco=write_json(tmp_path / "a.json", coco))
    assert store.count_items() == 0 and store.classes() == []
    assert not any(p.is_file() for p in store.images_dir.rglob("*"))


def test_pixel_limit_and_duplicates_across_imports(tmp_path, store):
    write_dataset(tmp_path / "imgs", 4, nested=False)
    report = import_folder(store, tmp_path / "imgs", max_pixels=2000)  # one of the 4 fits
    small = {i.file for i in store.items()}
    assert all(i.width * i.height <= 2000 for i in store.items()) and len(small) == 1
    assert sum("over the limit" in p for p in report.problems) == 4 - len(small)
    again = import_folder(store, tmp_path / "imgs")
    assert sum("already in the project" in p for p in again.problems) == len(small)
    assert store.count_items() == 4


def test_images_not_in_coco_are_unlabeled_and_empty_coco_images_are_labeled(tmp_path, store):
    coco = write_dataset(tmp_path / "imgs", 6)
    coco["images"] = coco["images"][:3]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in (101, 102)]
    import_folder(store, tmp_path / "imgs", coco=write_json(tmp_path / "a.json", coco))
    assert store.count_items(status="labeled") == 3
    assert store.count_items(status="unlabeled") == 3


def test_predictions_are_stored_as_prelabels_of_a_named_model(tmp_path, store):
    coco = write_dataset(tmp_path / "imgs", 4)
    results = [{"image_id": 100, "category_id": 3, "bbox": [1, 1, 10, 10], "score": 0.9},
               {"image_id": 101, "category_id": 7, "bbox": [2, 2, 5, 5], "score": 0.07},
               {"image_id": 101, "category_id": 7, "bbox": [2, 2, 5, 5], "score": "high"},
               {"image_id": 4242, "category_id": 7, "bbox": [2, 2, 5, 5], "score": 0.5}]
    report = import_folder(store, tmp_path / "imgs", coco=write_json(tmp_path / "a.json", coco),
                           predictions=write_json(tmp_path / "r.json", results),
                           model_name="yolo-v8-coco")
    assert report.predictions_imported == 2
    assert any("score 'high'" in p for p in report.problems)
    model = store.db.execute("SELECT id, name, status FROM models").fetchone()
    assert model[1:] == ("yolo-v8-coco", "external")
    assert store.count_predictions(model[0]) == 2
    with pytest.raises(ImportFailed, match="needs --coco"):
        import_folder(store, tmp_path / "imgs", predictions=tmp_path / "r.json")


@pytest.mark.parametrize("name, expected", [
    ("a/b.png", "a/b.png"), ("./a//b.png", "a/b.png"), ("a\\b.png", "a/b.png"),
    ("../x.png", None), ("a/../../x.png", None), ("/etc/x.png", None), ("C:/x.png", None),
    ("", None)])
def test_safe_relative(name, expected):
    assert safe_relative(name) == expected


def test_yolo_export_normalises_boxes(tmp_path, demo_store):
    counts = export_yolo(demo_store, tmp_path / "yolo")
    assert counts["images"] == 8
    item = demo_store.items(split="test")[0]
    lines = (tmp_path / "yolo" / "labels" / "test" / Path(item.file).with_suffix(".txt")
             ).read_text().splitlines()
    boxes = demo_store.annotations([item.id])[item.id]
    assert len(lines) == len(boxes)
    k, cx, cy, w, h = lines[0].split()
    b = boxes[0].box
    assert int(k) == boxes[0].class_id - 1  # class ids 1..10 -> YOLO indices 0..9
    assert float(cx) == pytest.approx((b.x1 + b.x2) / 2 / item.width, abs=1e-6)
    assert float(w) == pytest.approx((b.x2 - b.x1) / item.width, abs=1e-6)
    assert "names:" in (tmp_path / "yolo" / "data.yaml").read_text()


def test_damaged_files_of_every_format_are_reported_never_raised(tmp_path):
    """A seeded fuzz: truncated and bit-flipped PNG, JPEG and WebP files."""
    import io
    import random

    import numpy as np
    from PIL import Image

    from al_core.formats.images import ImageError, probe_image

    rng, rand = np.random.default_rng(0), random.Random(0)
    originals = []
    for fmt in ("PNG", "JPEG", "WEBP"):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(buf, format=fmt)
        originals.append(buf.getvalue())
    rejected = 0
    for n in range(300):
        data = bytearray(rand.choice(originals))
        if n % 2:
            data = data[:rand.randrange(1, len(data))]
        else:
            for _ in range(rand.randrange(1, 12)):
                data[rand.randrange(len(data))] = rand.randrange(256)
        path = tmp_path / f"{n}.img"
        path.write_bytes(bytes(data))
        try:
            info = probe_image(path)
            assert info.width > 0 and info.height > 0
        except ImageError:
            rejected += 1
    assert rejected > 100  # most damaged files are caught, none escapes as another error


def test_duplicate_category_names_are_merged_and_reported(tmp_path, store):
    coco = write_dataset(tmp_path / "imgs", 3)
    coco["categories"].append({"id": 99, "name": "cat"})
    report = import_folder(store, tmp_path / "imgs", coco=write_json(tmp_path / "a.json", coco))
    assert any("categories 7 and 99 are both named 'cat'" in p for p in report.problems)
    assert [c.name for c in store.classes()].count("cat") == 1


def test_a_different_image_with_a_taken_name_is_stored_under_a_new_name(tmp_path, store):
    write_dataset(tmp_path / "a", 2, nested=False, seed=1)
    write_dataset(tmp_path / "b", 2, nested=False, seed=2)  # same names, other pixels
    import_folder(store, tmp_path / "a")
    report = import_folder(store, tmp_path / "b")
    assert report.images_imported == 2
    assert any("stored as img000~2.png" in p for p in report.problems)
    assert (store.images_dir / "img000~2.png").read_bytes() == \
        (tmp_path / "b" / "img000.png").read_bytes()


def test_the_copy_the_coco_file_lists_by_base_name_is_kept(tmp_path, store):
    coco = write_dataset(tmp_path / "imgs", 2, nested=False)
    (tmp_path / "imgs" / "a").mkdir()
    original = tmp_path / "imgs" / coco["images"][0]["file_name"]
    (tmp_path / "imgs" / "a" / "zzz.png").write_bytes(original.read_bytes())
    moved = tmp_path / "imgs" / "zz" / original.name
    moved.parent.mkdir()
    original.rename(moved)  # now listed by base name only, and a.png-like twin sorts first
    report = import_folder(store, tmp_path / "imgs", coco=write_json(tmp_path / "c.json", coco))
    assert report.items_labeled == 2
    assert any("a/zzz.png: skipped, same content as zz/" in p for p in report.problems)


def test_yolo_re_export_replaces_the_folder_and_keeps_stems_unique(tmp_path, store):
    from al_core.training.split import parse_distribution, split_project

    coco = write_dataset(tmp_path / "imgs", 6, nested=False)
    write_dataset(tmp_path / "other-seed", 1, nested=False, seed=9)
    (tmp_path / "other-seed" / "img000.png").rename(tmp_path / "imgs" / "img000.jpg")
    coco["images"].append({"id": 500, "file_name": "img000.jpg"})  # its size from the file
    import_folder(store, tmp_path / "imgs", coco=write_json(tmp_path / "c.json", coco))
    split_project(store, distribution=parse_distribution("1/0/0"))
    export_yolo(store, tmp_path / "y")
    split_project(store, distribution=parse_distribution("0/0/1"), resplit=True)
    counts = export_yolo(store, tmp_path / "y")
    images = sorted(p.relative_to(tmp_path / "y") for p in (tmp_path / "y" / "images").rglob("*.*"))
    assert counts["images"] == 7 and len(images) == 7
    assert all(p.parts[1] == "test" for p in images)  # nothing left over from train
    labels = list((tmp_path / "y" / "labels" / "test").glob("*.txt"))
    assert len(labels) == 7  # img000.png and img000.jpg got separate label files
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not written by a YOLO export of this tool"):
        export_yolo(store, tmp_path / "other")
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["keep.txt"]
    with pytest.raises(ValueError, match="no items carry the tag 'nope'"):
        export_coco(store, tmp_path / "x.json", tag="nope")


def test_a_yolo_export_never_deletes_what_it_did_not_write(tmp_path, demo_store):
    """A folder holding a data.yaml with a user's weights/ and notes (a YOLO training
    folder) was deleted whole by a re-export; now only the export's own files change."""
    from al_core.formats.export import MANIFEST

    theirs = tmp_path / "theirs"
    (theirs / "weights").mkdir(parents=True)
    (theirs / "weights" / "best.pt").write_bytes(b"w")
    (theirs / "data.yaml").write_text("names: {0: a}\n")
    with pytest.raises(ValueError, match="not written by a YOLO export"):
        export_yolo(demo_store, theirs)
    assert sorted(p.name for p in theirs.rglob("*")) == ["best.pt", "data.yaml", "weights"]

    from al_core.simulation.demo import label_from_oracle_at_random
    from al_core.training.split import split_project

    label_from_oracle_at_random(demo_store, 6, seed=0)
    split_project(demo_store, seed=0)
    out = tmp_path / "y"
    first = export_yolo(demo_store, out)
    (out / "weights").mkdir()
    (out / "weights" / "best.pt").write_bytes(b"w")
    (out / "notes.txt").write_text("mine")
    test_ids = {i.id for i in demo_store.items(split="test")}
    again = export_yolo(demo_store, out, split="test")  # fewer images: old ones go
    assert (first["images"], again["images"]) == (len(test_ids) + 6, len(test_ids))
    assert not (out / "images" / "train").exists() and not (out / "labels" / "train").exists()
    assert (out / "weights" / "best.pt").read_bytes() == b"w"
    assert (out / "notes.txt").read_text() == "mine"
    listed = set(json.loads((out / MANIFEST).read_text())["files"])
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk - listed == {MANIFEST, "weights/best.pt", "notes.txt"}
    assert not list(tmp_path.glob(".y.partial-*"))  # the private folder is gone

    # a file of the user's where the export would write: refused, nothing changed
    label = next((out / "labels").rglob("*.txt"))
    label.unlink()
    data = json.loads((out / MANIFEST).read_text())
    data["files"].remove(label.relative_to(out).as_posix())
    (out / MANIFEST).write_text(json.dumps(data))
    label.write_text("a user's own labels")
    with pytest.raises(ValueError, match="was not written by the earlier export"):
        export_yolo(demo_store, out)
    assert label.read_text() == "a user's own labels"


def test_a_failed_import_never_deletes_files_another_import_bound(tmp_path, store,
                                                                  monkeypatch):
    """Two imports of one folder at once: the loser used to roll back by deleting the
    files it had copied, which the winner's items now used (162 of 200 lost)."""
    from al_core.formats import image_files
    from al_core.formats import coco_import as io_coco
    from al_core.formats.coco_import import ImportFailed
    from al_core.store import Store

    write_dataset(tmp_path / "imgs", 6, nested=False)
    real_copy = image_files.copy_in

    raced = []

    def copy_then_lose_the_race(files, images_dir):
        created = real_copy(files, images_dir)
        if not raced:  # the winner, with its own connection, runs after our copies
            raced.append(True)
            with Store(store.root) as other:
                import_folder(other, tmp_path / "imgs")
        return created
    monkeypatch.setattr(io_coco.image_files, "copy_in", copy_then_lose_the_race)
    with pytest.raises(ImportFailed, match="another import added some of these images"):
        import_folder(store, tmp_path / "imgs")
    items = store.items()
    assert len(items) == 6
    for item in items:  # every file the winner's items use is there, whole
        assert image_files.file_sha256(store.image_path(item)) == item.sha256
    assert not list(store.images_dir.rglob("*.partial"))


def test_a_copy_that_fails_half_way_never_stays_behind(tmp_path, store, monkeypatch):
    """A full disk mid-copy left a truncated file under the image's name, and the next
    import bound an item to it (prediction failed on it later)."""
    import errno
    import shutil

    from al_core.formats.coco_import import ImportFailed

    write_dataset(tmp_path / "imgs", 4, nested=False)
    real = shutil.copyfile
    calls = []

    def disk_full_on_the_third(src, dst, *a, **k):
        calls.append(dst)
        if len(calls) == 3:
            with open(dst, "wb") as f:
                f.write(open(src, "rb").read()[:50])  # half written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)
    monkeypatch.setattr(shutil, "copyfile", disk_full_on_the_third)
    with pytest.raises(ImportFailed, match="No space left on device"):
        import_folder(store, tmp_path / "imgs")
    assert store.items() == [] and not [p for p in store.images_dir.rglob("*") if p.is_file()]
    monkeypatch.setattr(shutil, "copyfile", real)
    report = import_folder(store, tmp_path / "imgs")
    assert report.images_imported == 4
    from al_core.formats.image_files import file_sha256 as _sha256
    assert all(_sha256(store.image_path(i)) == i.sha256 for i in store.items())



def test_an_import_interrupted_while_copying_leaves_no_copied_file(tmp_path, store,
                                                                   monkeypatch):
    """Ctrl-C while the images were copied in left the copies made so far in the
    project's images folder, used by no item."""
    import shutil

    write_dataset(tmp_path / "imgs", 4, nested=False)
    real = shutil.copyfile
    calls = []

    def interrupted_on_the_third(src, dst, *a, **k):
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(src, dst, *a, **k)
    monkeypatch.setattr(shutil, "copyfile", interrupted_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        import_folder(store, tmp_path / "imgs")
    assert store.items() == [] and not [p for p in store.images_dir.rglob("*") if p.is_file()]

def test_a_stray_file_under_an_images_name_is_not_bound(tmp_path, store):
    write_dataset(tmp_path / "imgs", 2, nested=False)
    name = sorted(p.name for p in (tmp_path / "imgs").iterdir() if p.suffix != ".json")[0]
    (store.images_dir / name).write_bytes(b"left by a killed import")
    report = import_folder(store, tmp_path / "imgs")
    assert report.images_imported == 2
    item = next(i for i in store.items() if i.file != name and i.file.startswith(name[:6]))
    assert "~2" in item.file  # stored under a free name; the stray file is left alone
    assert (store.images_dir / name).read_bytes() == b"left by a killed import"


def test_a_large_import_commits_in_chunks_and_a_late_failure_keeps_whole_images(
        tmp_path, store, monkeypatch):
    """A 20,000-image import held the database for seconds in one transaction (a running
    training's writes failed); now it commits IMPORT_CHUNK images at a time, each with
    its labels, and a failure later on says what went in."""
    from al_core.formats import image_files
    from al_core.formats import coco_import as io_coco
    from al_core.formats.coco_import import ImportFailed

    coco = write_dataset(tmp_path / "imgs", 6, nested=False)
    coco_file = write_json(tmp_path / "c.json", coco)
    monkeypatch.setattr(io_coco, "IMPORT_CHUNK", 2)
    real, calls = image_files.verify, []

    def conflict_on_the_third_chunk(*args):
        calls.append(1)
        if len(calls) == 3:
            raise image_files.FileConflict("a file changed meanwhile")
        return real(*args)
    monkeypatch.setattr(io_coco.image_files, "verify", conflict_on_the_third_chunk)
    with pytest.raises(ImportFailed, match="4 of 6 images were imported, with their labels"):
        import_folder(store, tmp_path / "imgs", coco=coco_file)
    items = store.items()
    assert len(items) == 4 and all(i.status == "labeled" for i in items)
    on_disk = {p.name for p in store.images_dir.rglob("*") if p.is_file()}
    assert on_disk == {i.file for i in items}  # the unimported chunk's copies are gone
    monkeypatch.setattr(io_coco.image_files, "verify", real)
    again = import_folder(store, tmp_path / "imgs", coco=coco_file)
    assert again.images_imported == 2 and again.items_labeled == 2
    assert store.count_items() == 6 and all(i.status == "labeled" for i in store.items())
