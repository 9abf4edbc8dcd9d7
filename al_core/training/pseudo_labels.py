"""Pseudo-labels: the unlabeled pool in training, as the parent model sees it.

With ``pseudo_label_score`` > 0 in a training config, a model also trains on pool
images its parent model is sure about, with the parent's boxes as targets: the
self-training of semi-supervised detectors (STAC, Sohn et al. 2020: boxes above a high
score threshold) used beside active learning, where the confident part of the pool
costs no labels (Elezi et al., "Not All Labels Are Equal", CVPR 2022; Wang et al.,
"Cost-Effective Active Learning", 2017).

What is taken, and what never is:

- Only the query pool: unlabeled images with no split (:meth:`Store.query_pool`), so
  never the frozen test split, never a labeled image, never one waiting for review.
- Only images the parent is sure about as a whole: every detection scores at least
  ``score`` (a pseudo box) or below :data:`IGNORE_BELOW` (background), none in between
  (a box in the band could be an object the targets would teach as background), and at
  least one pseudo box.
- At most as many images as the labeled train split (``cap``), drawn with the training
  seed, so pseudo-labels never outweigh people's labels.
- The targets live in memory for one training; nothing is written to the labels table
  (people never see them as labels), and the model's metrics record how many images
  were used (``pseudo_labeled_images``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from al_core.store import Store

# A detection scoring below this is background to the parent (predictions are stored
# from 0.05, the product's PREDICT_SCORE_THRESHOLD). The compact detector's scores are
# low: on the digits demo's draw 1 (never the reported one), its round-3 model gave no
# pool image a box of 0.8 without another box between 0.1 and 0.8. At 0.6 and 0.2, 110
# of 1,300 pool images qualified, their 174 pseudo boxes against 177 true ones; at 0.6
# and 0.1, 56.
IGNORE_BELOW = 0.2


@dataclass(frozen=True)
class PseudoLabels:
    """Pool images and their pseudo boxes: ``boxes[i]`` (B, 4) xyxy in image pixels and
    ``class_ids[i]`` (B,) project class ids, for ``item_ids[i]``."""

    item_ids: list[int]
    boxes: list[np.ndarray]
    class_ids: list[np.ndarray]


def pseudo_label_set(store: Store, parent_id: int, *, score: float, cap: int, seed: int
                     ) -> PseudoLabels:
    """The pool images the parent model is sure about (see the module doc), at most
    ``cap``, with its boxes scored at least ``score``. The parent must have predicted
    the pool (:func:`al_core.training.prediction.predict_items`); images it has not predicted are
    left out. Raises ValueError for a score outside (IGNORE_BELOW, 1)."""
    if not IGNORE_BELOW < score < 1:
        raise ValueError(f"pseudo_label_score: {score!r} must be above {IGNORE_BELOW} "
                         "(the background threshold) and below 1")
    pool = store.query_pool()
    if cap <= 0 or not pool:
        return PseudoLabels([], [], [])
    predicted = set(pool) - set(store.items_without_embedding(parent_id, pool))
    rows: dict[int, list[dict]] = {i: [] for i in pool if i in predicted}
    for row in store.predictions(parent_id, sorted(rows)):
        rows[row["item_id"]].append(row)
    sure = [i for i, found in rows.items()
            if any(r["score"] >= score for r in found)
            and not any(IGNORE_BELOW <= r["score"] < score for r in found)]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(sure, min(cap, len(sure)), replace=False).tolist()) \
        if sure else []
    keep = [[r for r in rows[i] if r["score"] >= score] for i in chosen]
    return PseudoLabels(
        chosen,
        [np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in k], np.float32) for k in keep],
        [np.array([r["class_id"] for r in k], np.int64) for k in keep])
