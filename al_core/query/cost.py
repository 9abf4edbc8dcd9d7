"""What a detection costs to review and how hard its class is: the numbers behind the
``dcus`` and ``cost_aware`` strategies. Pure numpy, no store and no model.

- :func:`class_quality` and :func:`difficulty_weights`: PPAL's difficulty calibration
  (Yang et al., "Plug and Play Active Learning for Object Detection", CVPR 2024): a
  class the model localizes and scores poorly weighs its detections' uncertainty up,
  by at most ``1 + upper``.
- :func:`expected_corrections`: the corrections an annotator is expected to make on an
  image's pre-labels (the count :mod:`al_core.review.corrections` makes once the truth is
  known), estimated from the model's own scores, so that a strategy can rank images by
  information per correction (cost-sensitive active learning: Settles et al., "Active
  learning with real annotation costs", NIPS workshop 2008; Haertel et al., "Return on
  investment for active learning", 2008).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from al_core.query.measures import box_iou

# PPAL's published settings (class_weight_ub 0.2, class_weight_alpha 0.3 in every config
# of the authors' code): the hardest class weighs 1.2, a perfectly handled one 1.
DIFFICULTY_UPPER = 0.2
DIFFICULTY_ALPHA = 0.3


def class_quality(predictions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                  truth: Sequence[tuple[np.ndarray, np.ndarray]], n_classes: int
                  ) -> np.ndarray:
    """How well the model handles each class on labeled images, ``(n_classes,)`` in
    [0, 1], NaN for a class with no true box among them.

    ``predictions[i]``: image i's detections, ``(boxes (M, 4) xyxy pixels, scores (M,),
    classes (M,) int in 0..n_classes-1)``; ``truth[i]``: its true ``(boxes (G, 4),
    classes (G,))``. Each true box scores the best ``IoU x score`` of a same-class
    detection (0 when none overlaps); a class's quality is the mean over its true boxes.
    This is PPAL's class quality (there the mean ``IoU x score`` of the positives seen
    in training), measured on the labeled images with the trained model instead.
    """
    if len(predictions) != len(truth):
        raise ValueError(f"{len(predictions)} images of predictions but {len(truth)} of truth")
    sums = np.zeros(n_classes, np.float64)
    counts = np.zeros(n_classes, np.int64)
    for (p_boxes, p_scores, p_classes), (t_boxes, t_classes) in zip(predictions, truth):
        t_classes = np.asarray(t_classes, np.int64).reshape(-1)
        p_classes = np.asarray(p_classes, np.int64).reshape(-1)
        if len(t_classes) == 0:
            continue
        if np.any((t_classes < 0) | (t_classes >= n_classes)) \
                or np.any((p_classes < 0) | (p_classes >= n_classes)):
            raise ValueError(f"class indices must be in 0..{n_classes - 1}")
        quality = box_iou(t_boxes, p_boxes) * np.asarray(p_scores, np.float64)[None, :]
        quality[t_classes[:, None] != p_classes[None, :]] = 0  # (G, M): same class only
        best = quality.max(axis=1) if quality.shape[1] else np.zeros(len(t_classes))
        np.add.at(sums, t_classes, best)
        np.add.at(counts, t_classes, 1)
    out = np.full(n_classes, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def difficulty_weights(quality: np.ndarray, *, upper: float = DIFFICULTY_UPPER,
                       alpha: float = DIFFICULTY_ALPHA) -> np.ndarray:
    """PPAL's difficulty coefficient of each class ``(C,)`` from its quality ``(C,)``:
    ``1 + alpha * upper * log(b (1 - q) + 1)`` with ``b = exp(1 / alpha) - 1``, so 1 at
    quality 1 and ``1 + upper`` at quality 0, concave in between (a class half handled
    is already near the top). A class with unknown quality (NaN: no labeled box yet)
    weighs ``1 + upper``: as hard as can be."""
    if not (upper >= 0 and alpha > 0):
        raise ValueError(f"upper must be >= 0 and alpha > 0, got {upper}, {alpha}")
    q = np.clip(np.nan_to_num(np.asarray(quality, np.float64), nan=0.0), 0, 1)
    b = np.exp(1.0 / alpha) - 1.0
    return (1.0 + alpha * upper * np.log(b * (1.0 - q) + 1.0)).astype(np.float32)


def expected_corrections(scores: np.ndarray, top_probs: np.ndarray, image_index: np.ndarray,
                         n_images: int, *, min_score: float) -> np.ndarray:
    """The corrections each image's pre-labels are expected to need ``(n_images,)``,
    reading each detection's score as the probability that it is a true object.

    ``scores`` (M,), ``top_probs`` (M,) the probability of each detection's own class,
    ``image_index`` (M,) in ``0..n_images-1``. A shown detection (score >= ``min_score``,
    the review screen's threshold) is deleted with probability ``1 - s`` and relabeled
    with ``s (1 - p)``; a hidden one is an object to add with probability ``s``.
    Objects the model misses entirely are not seen here (the strategy adds a constant
    per image for them and for opening the image at all). Box moves are not modeled:
    the score says whether there is an object, not how well the box fits it."""
    s = np.asarray(scores, np.float64)
    p = np.asarray(top_probs, np.float64)
    index = np.asarray(image_index, np.int64)
    if not (s.shape == p.shape == index.shape):
        raise ValueError(f"scores {s.shape}, top_probs {p.shape} and image_index "
                         f"{index.shape} must have one entry per detection")
    if len(index) and (index.min() < 0 or index.max() >= n_images):
        raise ValueError(f"image_index must be in 0..{n_images - 1}")
    shown = s >= min_score
    per_detection = np.where(shown, (1.0 - s) + s * (1.0 - p), s)
    return np.bincount(index, weights=per_detection, minlength=n_images)
