"""Every exported file reads back, with its format's standard reader, to the project's
exact class names, however awkward (issue 15): data.yaml by yaml.safe_load, COCO by
json, YOLO label lines by splitting them."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from al_core.formats.export import coco_instances, export_coco, export_yolo
from al_core.types import Box, LabeledBox

AWKWARD = ["🐟 fish", 'say "hi"', "it's", "a: b", "- dash", "yes", "no", "null", "~",
           "1e3", "0o17", ".inf", "#hash", "&anchor", "*star", "!tag", "{x}", "[y]", "|",
           " padded ", "tab\there", "two\nlines", "\r\nwindows", "nel\x85", "sep\u2028",
           "\ufeffbom", "back\\slash", "é 中文", "🐟\U0001F980 two astral"]


def _project(store, names: list[str]) -> dict[int, list[tuple[str, Box]]]:
    """One 40 x 30 image per class (train, then val alternately), with one box of that
    class and one of the next; returns item id -> [(class name, box)]. The classes are
    stored as they are, as a project made before the naming rule (issue 24) holds them:
    an export writes whatever is stored."""
    ids = {name: store.db["classes"].insert({"name": name, "color": "#000000",
                                             "created": "2024-01-01"}).last_pk
           for name in names}
    labels = {}
    for k, name in enumerate(names):
        path = store.images_dir / f"img{k:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((30, 40, 3), k, np.uint8)).save(path)
        item = store.add_item(file=path.name, width=40, height=30, source="test",
                              sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        other = names[(k + 1) % len(names)]
        boxes = [(name, Box(1.0 + k % 5, 2.0, 21.5, 17.25)), (other, Box(0.0, 0.0, 40.0, 30.0))]
        store.set_labels(item, [LabeledBox(ids[n], b) for n, b in boxes], source="human")
        labels[item] = boxes
    store.set_splits({item: ("train", "val")[n % 2] for n, item in enumerate(labels)})
    return labels


def test_new_class_names_follow_the_naming_rule(store):
    """Issue 24 made names data: a new class name is normalised or refused, naming it."""
    with pytest.raises(ValueError, match="holds a control character"):
        store.ensure_classes([" \n\t"])
    with pytest.raises(ValueError, match=r"class name 'two\\nlines' holds a control"):
        store.ensure_classes(["ok", "two\nlines"])
    assert store.classes() == []  # nothing created when one name is refused


def test_yolo_export_reads_back_to_the_exact_class_names(store, tmp_path):
    labels = _project(store, AWKWARD)
    out = tmp_path / "out: 'yes' 🐟 #1"
    export_yolo(store, out)
    text = (out / "data.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["names"] == dict(enumerate(AWKWARD))
    assert data["path"] == str(out.resolve())
    assert (data["train"], data["val"]) == ("images/train", "images/val")
    assert "'🐟 fish'" in text and "\\ud83d" not in text  # as it is, no surrogate escape
    assert "  9: '1e3'" in text  # quoted: a YAML 1.2 reader would take a plain 1e3 for 1000
    by_file = {store.item(i).file: boxes for i, boxes in labels.items()}
    for label_file in out.glob("labels/*/*.txt"):
        rows = [line.split() for line in label_file.read_text(encoding="utf-8").splitlines()]
        got = [(data["names"][int(r[0])], [float(v) for v in r[1:]]) for r in rows]
        want = [(name, [(b.x1 + b.x2) / 80, (b.y1 + b.y2) / 60, (b.x2 - b.x1) / 40,
                        (b.y2 - b.y1) / 30]) for name, b in by_file[label_file.stem + ".png"]]
        assert [n for n, _ in got] == [n for n, _ in want]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], atol=1e-6)
    assert len(list(out.glob("labels/*/*.txt"))) == len(AWKWARD)


def test_coco_export_reads_back_to_the_exact_class_names(store, tmp_path):
    labels = _project(store, AWKWARD)
    export_coco(store, tmp_path / "coco.json")
    data = json.loads((tmp_path / "coco.json").read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(coco_instances(store)))
    names = {c["id"]: c["name"] for c in data["categories"]}
    assert sorted(names.values()) == sorted(AWKWARD)
    got: dict[int, list[str]] = {}
    for a in data["annotations"]:
        got.setdefault(a["image_id"], []).append(names[a["category_id"]])
    assert got == {i: [n for n, _ in boxes] for i, boxes in labels.items()}
