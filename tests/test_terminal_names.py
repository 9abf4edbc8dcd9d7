"""Terminal output cannot be forged (issue 24, kind 8): file, class, model and tag names
with escape codes or line breaks are printed escaped by the CLI (al_core.names.printable),
so a name can neither clear the screen nor add a line such as "0 problems"; a file name
holding ": " stays whole in an import's report."""
from __future__ import annotations

import json

import pytest

from al_core.cli import main
from al_core.store import Store
from al_core.types import Box, LabeledBox
from tests.datasets import write_dataset

CLEAR = "\x1b[2J"
FORGED = "\n0 problems"


def _run(capsys, *args) -> tuple[int, list[str], list[str]]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err
    return code, out.splitlines(), err.splitlines()


def test_an_import_report_prints_file_names_escaped_and_whole(tmp_path, capsys):
    coco = write_dataset(tmp_path / "in", 2, nested=False)
    for image, name in zip(coco["images"], [f"a{CLEAR}.png", f"b{FORGED}.png"]):
        (tmp_path / "in" / image["file_name"]).rename(tmp_path / "in" / name)
        image["file_name"] = name
    (tmp_path / "in" / "c: d.png").write_bytes(b"not an image")
    coco["annotations"] = [{"id": 1, "image_id": 101, "category_id": 7,
                            "bbox": [500, 500, 5, 5]}]
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    code, out, _ = _run(capsys, "import", "--project", tmp_path / "p", "--images",
                        tmp_path / "in", "--coco", tmp_path / "ann.json")
    assert code == 0
    size = f"{coco['images'][1]['width']}x{coco['images'][1]['height']}"
    assert out[:3] == [
        "  - c: d.png: skipped, not a readable image (unknown or corrupt format)",
        "  - annotation #0 (id 1) of COCO image 101 'b\\n0 problems.png': rejected, bbox "
        f"[500, 500, 5, 5] lies outside the {size} image",
        "  - b\\n0 problems.png: left unlabeled, 1 of its 1 annotation could not be "
        "imported"]
    assert len(out) == 4 and out[3].startswith("2 of 3 images imported") \
        and "3 problems." in out[3]


def test_status_prints_stored_names_escaped(tmp_path, capsys):
    """Names stored before the rule existed (a class, the active model, a selection tag
    holding an escape code and a line break) still load, and are printed escaped."""
    name = f"{CLEAR}cat{FORGED}"
    with Store(tmp_path / "p", create=True) as store:
        class_id = store.db["classes"].insert({"name": name, "color": "#000000",
                                               "created": "2024-01-01"}).last_pk
        item = store.add_item(file="x.png", width=10, height=10, sha256="0" * 64, source="t")
        store.set_labels(item, [LabeledBox(class_id, Box(1, 1, 5, 5))], source="human")
        model = store.add_model(name="m", arch="external", status="active")
        store.add_selection(tag="s", round=1, strategy="random", config={}, seed=0,
                            model_id=None, items=[])
        with store.write():
            store.db.execute("UPDATE models SET name = ? WHERE id = ?", [name, model])
            store.db.execute("UPDATE selections SET tag = ?", [name])
    code, out, _ = _run(capsys, "status", "--project", tmp_path / "p")
    assert code == 0
    assert out[6:] == [
        "boxes by class: \\x1b[2Jcat\\n0 problems 1",
        "active model: \\x1b[2Jcat\\n0 problems (#1)   models: 1",
        "rounds: 1   selections: 1",
        "  \\x1b[2Jcat\\n0 problems round 1   random        no model   0 items (0 random "
        "control), 0 labeled"]


def test_eval_coco_prints_class_names_escaped(tmp_path, capsys):
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 50}],
          "categories": [{"id": 1, "name": f"{CLEAR}cat{FORGED}"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9],
                           "area": 81, "iscrowd": 0}]}
    dt = [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9], "score": 0.9}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    code, out, _ = _run(capsys, "eval-coco", "--gt", tmp_path / "gt.json", "--dt",
                        tmp_path / "dt.json")
    assert code == 0
    shown = "\\x1b[2Jcat\\n0 problems"
    assert out == [f"{'class':<24}{'AP':>8}{'gt boxes':>10}",
                   f"{shown:<24}{1.0:>8.4f}{1:>10}",
                   "mAP@0.5 over 1 classes with ground truth: 1.0000"]


def test_errors_and_written_paths_are_printed_escaped(tmp_path, capsys):
    missing = tmp_path / f"nope{CLEAR}{FORGED}"
    code, out, err = _run(capsys, "import", "--project", tmp_path / "p", "--images", missing)
    assert code == 2 and out == []
    assert err == [f"error: images folder {str(tmp_path)}/nope\\x1b[2J\\n0 problems does not "
                   "exist or is not a folder"]
    Store(tmp_path / "p", create=True).close()
    code, out, _ = _run(capsys, "export", "--project", tmp_path / "p", "--format", "coco",
                        "--out", tmp_path / f"o{CLEAR}.json")
    assert out == [f"wrote {tmp_path}/o\\x1b[2J.json: 0 images, 0 boxes, 0 categories"]
    assert (tmp_path / f"o{CLEAR}.json").is_file()  # the name itself is as given


def test_an_image_error_keeps_a_file_name_with_a_colon_whole(tmp_path):
    from al_core.formats.images import ImageError, probe_image

    (tmp_path / "c: d.png").write_bytes(b"")
    with pytest.raises(ImageError) as caught:
        probe_image(tmp_path / "c: d.png")
    exc = caught.value
    assert (exc.name, exc.reason, str(exc)) == ("c: d.png", "the file is empty",
                                                "c: d.png: the file is empty")
    (tmp_path / f"e{FORGED}.png").write_bytes(b"")
    with pytest.raises(ImageError) as caught:
        probe_image(tmp_path / f"e{FORGED}.png")
    assert str(caught.value) == "e\\n0 problems.png: the file is empty"
