"""Export the current labels: COCO instances JSON (what CVAT, Label Studio, FiftyOne
and Roboflow exchange) and a YOLO txt dataset. Files are written atomically."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path, PurePosixPath

from al_core.store import Store
from al_core.types import SPLITS


def _atomic_write_text(path: Path, text: str) -> None:
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _labeled_items(store: Store, split: str | None, tag: str | None) -> list:
    if tag is not None and tag not in SPLITS and tag not in store.tags():
        raise ValueError(f"no items carry the tag {tag!r} (tags: "
                         f"{', '.join(store.tags()) or 'none yet'})")
    return store.items(status="labeled", split=split, tag=tag)


def coco_instances(store: Store, *, split: str | None = None, tag: str | None = None) -> dict:
    """The labeled items (optionally one split or tag) as a COCO instances dict; image
    ids are item ids, category ids are class ids."""
    items = _labeled_items(store, split, tag)
    anns = store.annotations([i.id for i in items])
    annotations = []
    for item in items:
        for a in anns[item.id]:
            x, y, w, h = a.box.as_xywh()
            annotations.append({"id": len(annotations) + 1, "image_id": item.id,
                                "category_id": a.class_id, "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0})
    return {
        "info": {"description": f"Active Learning Studio export of {store.root.name}"},
        "images": [{"id": i.id, "file_name": i.file, "width": i.width, "height": i.height}
                   for i in items],
        "categories": [{"id": c.id, "name": c.name} for c in store.classes()],
        "annotations": annotations,
    }


def export_coco(store: Store, out: str | Path, **filters) -> dict:
    data = coco_instances(store, **filters)
    _atomic_write_text(Path(out), json.dumps(data))
    return {"images": len(data["images"]), "annotations": len(data["annotations"]),
            "categories": len(data["categories"])}


def _yolo_names(items) -> dict[int, PurePosixPath]:
    """Each item's path inside its split folder. YOLO finds a label by the image's stem,
    so images whose stems would collide (a.png and a.jpg, or one name from two
    referenced folders) get the item id added to the name."""
    taken: dict[tuple[str, str], int] = {}
    for item in items:
        key = (item.split or "unsplit", str(PurePosixPath(item.file).with_suffix("")))
        taken[key] = taken.get(key, 0) + 1
    names = {}
    for item in items:
        rel = PurePosixPath(item.file)
        if taken[(item.split or "unsplit", str(rel.with_suffix("")))] > 1:
            rel = rel.with_name(f"{rel.stem}-{item.id}{rel.suffix}")
        names[item.id] = rel
    return names


def _yolo_label_lines(item, anns, index: dict[int, int]) -> str:
    lines = []
    for a in anns:
        b = a.box
        lines.append(f"{index[a.class_id]} {(b.x1 + b.x2) / 2 / item.width:.6f} "
                     f"{(b.y1 + b.y2) / 2 / item.height:.6f} "
                     f"{(b.x2 - b.x1) / item.width:.6f} {(b.y2 - b.y1) / item.height:.6f}\n")
    return "".join(lines)


def export_yolo(store: Store, out_dir: str | Path, *, split: str | None = None,
                tag: str | None = None) -> dict:
    """A YOLO dataset: ``images/<split>/``, ``labels/<split>/`` (``class cx cy w h``,
    normalised), ``data.yaml`` with the class names. Items without a split go to
    ``unsplit``. The folder is written beside ``out_dir`` and swapped in whole, replacing
    an earlier YOLO export there (a non-empty folder that is not one is refused)."""
    out = Path(out_dir).resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / "data.yaml").exists())):
        raise ValueError(f"{out} exists and is not an earlier YOLO export; choose a new folder")
    classes = store.classes()
    index = {c.id: k for k, c in enumerate(classes)}
    items = _labeled_items(store, split, tag)
    anns = store.annotations([i.id for i in items])
    names = _yolo_names(items)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for item in items:
            sub = item.split or "unsplit"
            img_dest = staging / "images" / sub / names[item.id]
            img_dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(store.image_path(item), img_dest)
            label = staging / "labels" / sub / names[item.id].with_suffix(".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(_yolo_label_lines(item, anns[item.id], index), encoding="utf-8")
        splits = sorted({i.split or "unsplit" for i in items})
        keys = {s: s for s in splits}
        for needed in ("train", "val"):  # trainers require both keys
            keys.setdefault(needed, "train" if "train" in splits else (splits or ["unsplit"])[0])
        staging.mkdir(parents=True, exist_ok=True)
        (staging / "data.yaml").write_text(
            f"path: {json.dumps(str(out))}\n"
            + "".join(f"{k}: images/{v}\n" for k, v in sorted(keys.items()))
            + "names:\n" + "".join(f"  {k}: {json.dumps(c.name)}\n"
                                    for k, c in enumerate(classes)), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"images": len(items), "annotations": sum(len(anns[i.id]) for i in items),
            "categories": len(classes)}
