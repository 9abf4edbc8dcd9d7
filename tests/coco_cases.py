"""Helpers for the COCO import cases of issue 15: tiny images, and the labels a COCO file
gives each image as pycocotools reads it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def tiny_image(path: Path, *, size: tuple[int, int] = (8, 8), value: int = 0) -> Path:
    """A small PNG/JPEG (by suffix) whose pixels depend on ``value`` (distinct content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def pycocotools_boxes(coco_file: Path) -> dict:
    """COCO image id -> sorted [(category name, x, y, w, h)] as pycocotools indexes them
    (every annotation record of the image, also when two share an annotation id)."""
    from pycocotools.coco import COCO

    data = json.loads(Path(coco_file).read_text())
    coco = COCO()
    coco.dataset = data
    coco.createIndex()
    names = {c["id"]: c["name"] for c in data["categories"]}
    return {image_id: sorted((names[a["category_id"]], *map(float, a["bbox"]))
                             for a in coco.imgToAnns[image_id])
            for image_id in coco.imgs}


def stored_boxes(store, item) -> list:
    """The item's current boxes as sorted [(class name, x, y, w, h)]."""
    names = {c.id: c.name for c in store.classes()}
    return sorted((names[a.class_id], *(round(v, 6) for v in a.box.as_xywh()))
                  for a in store.annotations([item.id])[item.id])


def item_by_file(store, file: str):
    return next(i for i in store.items() if i.file == file)
