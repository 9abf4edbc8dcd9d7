"""Turning a project's split into letterboxed tensors for training and prediction."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from al_core.formats.images import load_image
from al_core.store import Store
from al_core.training.loop import SplitData


def letterbox(image: Image.Image, size: int) -> tuple[np.ndarray, float]:
    """The image scaled so its longer side is ``size``, padded right and bottom with
    grey: (size, size, 3) uint8 and the scale applied."""
    scale = size / max(image.width, image.height)
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = np.full((size, size, 3), 114, np.uint8)
    canvas[:h, :w] = np.asarray(image.resize((w, h), Image.BILINEAR) if (w, h) != image.size
                                else image)
    return canvas, scale


def load_items(store: Store, item_ids: list[int], *, image_size: int,
               class_index: dict[int, int] | None,
               labels: dict[int, list] | None = None) -> SplitData:
    """Images (and, with ``class_index`` = class id -> model index, their labels:
    ``labels`` as read by the caller, or read now)."""
    items = store.items(ids=item_ids)
    if labels is None:
        labels = store.annotations(item_ids) if class_index is not None else {}
    arrays, targets, scales = [], [], []
    for item in items:
        array, scale = letterbox(load_image(store.image_path(item)), image_size)
        arrays.append(array)
        scales.append(scale)
        anns = [a for a in labels.get(item.id, []) if a.class_id in (class_index or {})]
        boxes = np.array([a.box.as_list() for a in anns], np.float32).reshape(-1, 4) * scale
        targets.append({"boxes": torch.from_numpy(boxes),
                        "labels": torch.tensor([class_index[a.class_id] for a in anns],
                                               dtype=torch.int64)})
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous() if arrays \
        else torch.zeros((0, 3, image_size, image_size), dtype=torch.uint8)
    return SplitData(images, targets, [i.id for i in items], scales)


def load_split(store: Store, split: str, *, image_size: int, class_index: dict[int, int]
               ) -> SplitData:
    """The split's labeled images a model may learn from (team mode: approved ones while
    only approved labels train) with their labels, read in one snapshot: a review or a
    save committed between the two reads would otherwise put labels nobody approved into
    the training (an approved image reopened and saved in between)."""
    with store.read():
        ids = [i.id for i in store.items(split=split, status="labeled", trainable=True)]
        labels = store.annotations(ids)
    return load_items(store, ids, image_size=image_size, class_index=class_index,
                      labels=labels)
