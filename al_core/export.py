"""Export the current labels: COCO instances JSON (what CVAT, Label Studio, FiftyOne
and Roboflow exchange) and a YOLO txt dataset. Files are written atomically."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path, PurePosixPath

from al_core.store import Store


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def coco_instances(store: Store, *, split: str | None = None, tag: str | None = None) -> dict:
    """The labeled items (optionally one split or tag) as a COCO instances dict; image
    ids are item ids, category ids are class ids."""
    items = store.items(status="labeled", split=split, tag=tag)
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


def export_yolo(store: Store, out_dir: str | Path, **filters) -> dict:
    """A YOLO dataset: ``images/<split>/``, ``labels/<split>/`` (``class cx cy w h``,
    normalised), ``data.yaml`` with the class names. Items without a split go to
    ``unsplit``."""
    out = Path(out_dir)
    classes = store.classes()
    index = {c.id: k for k, c in enumerate(classes)}
    items = store.items(status="labeled", split=filters.get("split"), tag=filters.get("tag"))
    anns = store.annotations([i.id for i in items])
    boxes = 0
    for item in items:
        sub = item.split or "unsplit"
        rel = PurePosixPath(item.file)
        img_dest = out / "images" / sub / rel
        img_dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.image_path(item), img_dest)
        lines = []
        for a in anns[item.id]:
            b = a.box
            lines.append(f"{index[a.class_id]} {(b.x1 + b.x2) / 2 / item.width:.6f} "
                         f"{(b.y1 + b.y2) / 2 / item.height:.6f} "
                         f"{(b.x2 - b.x1) / item.width:.6f} {(b.y2 - b.y1) / item.height:.6f}")
        boxes += len(lines)
        _atomic_write_text(out / "labels" / sub / rel.with_suffix(".txt"),
                           "".join(line + "\n" for line in lines))
    names = "\n".join(f"  {k}: {json.dumps(c.name)}" for k, c in enumerate(classes))
    splits = sorted({i.split or "unsplit" for i in items})
    _atomic_write_text(out / "data.yaml", f"path: {out.resolve()}\n" + "".join(
        f"{s}: images/{s}\n" for s in splits) + f"names:\n{names}\n")
    return {"images": len(items), "annotations": boxes, "categories": len(classes)}
