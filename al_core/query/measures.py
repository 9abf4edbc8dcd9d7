"""Measures: how uncertain a model is about each detection, and about each image.

Every measure maps probability rows ``(M, K)`` (each row sums to 1) to ``(M,)`` scores in
``[0, 1]``, higher meaning more uncertain. Per-image scores aggregate the rows of the
image's detections. Pure numpy, float32, no store and no model.

Detections (the default, ``background=True``): a detection with score ``s`` and
class probabilities ``p`` (``C`` classes) becomes the row ``[s * p, 1 - s]``, the
probability of each class *and* of "no object here". So a confident box of a clear
class is certain, a 0.06 box on background is certain (certainly nothing), and a box at
score 0.5 or one torn between two classes is uncertain. Without this, the many low-score
boxes kept for the strategies (score >= 0.05) would all look maximally uncertain.

Images with no detection at all: :data:`MISSED_OBJECTS_SCORE` (1.0, at least as high as
any measure; when image scores pass 1, summed or weighted by class, just above the
pool's highest), flagged ``missed=True``. An image where the model sees nothing even at
a low threshold either holds no objects or holds objects the model misses entirely; the
model cannot tell which, so a person should look (tools that score such images 0 never
query them, which hides exactly the model's blind spots). How many of them a batch
takes is the strategies' business (``missed_share``, see
:func:`al_core.query.strategies.capped_missed`): a raw pool's empty frames would
otherwise fill whole batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MEASURES = ("least_confidence", "margin", "entropy")
AGGREGATES = ("max", "mean", "sum")
DEFAULT_MEASURE = "entropy"
# An image costs one labeling session and teaches every box in it, so its detections'
# uncertainties add up ("sum", Brust et al. 2019). With the "no object" column a
# confident box, or a faint one on background, adds about 0, so "sum" counts uncertain
# boxes, not boxes. "max" scores an image by its single hardest box; "mean" dilutes one
# hard box among easy ones. Chosen in the simulation on a draw of the demo that the
# benchmark does not report (BENCHMARKS.md).
DEFAULT_AGGREGATE = "sum"
MISSED_OBJECTS_SCORE = 1.0
_TINY = np.float32(1e-12)


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """``1 - max_k p_k`` of each row ``(M, K)`` -> ``(M,)``; 0 for a one-hot row."""
    return 1.0 - _columns(probs).max(axis=0)


def margin(probs: np.ndarray) -> np.ndarray:
    """``1 - (p_first - p_second)`` of each row ``(M, K)`` -> ``(M,)``; 1 for a tie."""
    first, second = _top_two(_columns(probs))
    return 1.0 - (first - second)


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy of each row ``(M, K)`` divided by ``log K`` (so in [0, 1]; 1 for a
    uniform row) -> ``(M,)``."""
    probs = _rows(probs)
    k = probs.shape[1]
    if k < 2:
        return np.zeros(len(probs), np.float32)
    return _entropy_nats(probs) * np.float32(1.0 / np.log(k))


MEASURE_FUNCTIONS = {"least_confidence": least_confidence, "margin": margin,
                     "entropy": entropy}


def _rows(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2:
        raise ValueError(f"probability rows must be a 2-d (M, K) array, got shape "
                         f"{probs.shape}")
    return probs


def _columns(probs: np.ndarray) -> np.ndarray:
    """(K, M) contiguous: numpy reduces a short last axis slowly (45 ms for max over 1M x
    10 rows); one transposed copy then vector ops across M take 20 ms in all."""
    return np.ascontiguousarray(_rows(probs).T)


def _top_two(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest and second-largest value of each column of ``(K, M)`` -> two ``(M,)``."""
    first = columns[0].copy()
    second = np.zeros_like(first) if len(columns) < 2 else np.minimum(first, columns[1])
    if len(columns) >= 2:
        np.maximum(first, columns[1], out=first)
    low = np.empty_like(first)
    for row in columns[2:]:
        np.minimum(first, row, out=low)
        np.maximum(second, low, out=second)
        np.maximum(first, row, out=first)
    return first, second


def _entropy_nats(probs: np.ndarray) -> np.ndarray:
    """-sum p log p of each row ``(M, K)``; 0 log 0 = 0."""
    logs = np.maximum(probs, _TINY)
    np.log(logs, out=logs)
    return np.maximum(-np.einsum("ij,ij->i", probs, logs), 0)  # no -0.0


def with_background(probs: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Detection rows ``(M, C)`` and scores ``(M,)`` -> ``(M, C + 1)`` rows
    ``[s * p, 1 - s]`` (the explicit form of what :func:`detection_uncertainty` uses)."""
    probs, scores = _rows(probs), _scores(scores, len(probs))
    out = np.empty((len(probs), probs.shape[1] + 1), np.float32)
    np.multiply(probs, scores[:, None], out=out[:, :-1])
    out[:, -1] = 1.0 - scores
    return out


def _scores(scores: np.ndarray, m: int) -> np.ndarray:
    scores = np.asarray(scores, np.float32)
    if scores.shape != (m,):
        raise ValueError(f"{m} probability rows but scores of shape {scores.shape}")
    return scores


def detection_uncertainty(probs: np.ndarray, scores: np.ndarray, measure: str = DEFAULT_MEASURE,
                          *, background: bool = True) -> np.ndarray:
    """The measure of each detection ``(M,)``: of its class probabilities ``(M, C)``, or
    with ``background`` of its row ``[s * p, 1 - s]`` (see the module doc), computed
    without building that row: for entropy by the chain rule, ``H = s H(p) + H_2(s)``
    (``H_2`` the binary entropy), for the others from ``s p_first``, ``s p_second`` and
    ``1 - s``. Rows are taken to sum to 1 (stored ones are rounded to 5 decimals)."""
    if measure not in MEASURE_FUNCTIONS:
        raise ValueError(f"measure {measure!r} is not one of {', '.join(MEASURES)}")
    if not background:
        return MEASURE_FUNCTIONS[measure](probs)
    probs = _rows(probs)
    s = _scores(scores, len(probs))
    none = 1.0 - s  # (M,) probability of no object
    if measure == "entropy":
        binary = -(s * np.log(np.maximum(s, _TINY)) + none * np.log(np.maximum(none, _TINY)))
        total = s * _entropy_nats(probs) + binary
        return np.maximum(total, 0) * np.float32(1.0 / np.log(probs.shape[1] + 1))
    first, second = _top_two(_columns(probs))
    first *= s
    second *= s
    top = np.maximum(first, none)
    if measure == "least_confidence":
        return 1.0 - top
    return 1.0 - (top - np.maximum(np.minimum(first, none), second))


def aggregate_per_image(values: np.ndarray, image_index: np.ndarray, n_images: int,
                        how: str = DEFAULT_AGGREGATE) -> np.ndarray:
    """Per-detection ``values`` (M,) grouped by ``image_index`` (M,) in ``0..n_images-1``
    -> ``(n_images,)``; NaN for an image without detections."""
    if how not in AGGREGATES:
        raise ValueError(f"aggregate {how!r} is not one of {', '.join(AGGREGATES)}")
    values = np.asarray(values, np.float32)
    index = np.asarray(image_index, np.int64)
    counts = np.bincount(index, minlength=n_images)
    out = np.full(n_images, np.nan, np.float32)
    if len(values) == 0:
        return out
    if how == "max":
        if np.any(index[1:] < index[:-1]):  # reduceat needs each image's rows together
            order = np.argsort(index, kind="stable")
            index, values = index[order], values[order]
        starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])  # (G,)
        out[index[starts]] = np.maximum.reduceat(values, starts)
        return out
    sums = np.bincount(index, weights=values, minlength=n_images).astype(np.float32)
    has = counts > 0
    out[has] = sums[has] / counts[has] if how == "mean" else sums[has]
    return out


@dataclass(frozen=True)
class ImageScores:
    """Per-image uncertainty ``(N,)`` and which images had no detection ``(N,)`` bool."""

    scores: np.ndarray
    missed: np.ndarray


def image_uncertainty(probs: np.ndarray, scores: np.ndarray, image_index: np.ndarray,
                      n_images: int, *, measure: str = DEFAULT_MEASURE,
                      aggregate: str = DEFAULT_AGGREGATE, background: bool = True,
                      weights: np.ndarray | None = None) -> ImageScores:
    """One uncertainty per image from its detections.

    probs (M, C) class probabilities of each detection; scores (M,) its confidence;
    image_index (M,) which of the ``n_images`` it belongs to; ``background`` adds the
    "no object" column (see the module doc); ``weights`` (M,) >= 0 multiply each
    detection's uncertainty before aggregating (see :func:`rare_class_weights`). Images
    without detections are flagged ``missed`` and score highest (see the module doc).
    """
    per_detection = detection_uncertainty(probs, scores, measure, background=background)
    if weights is not None:
        weights = np.asarray(weights, np.float32)
        if weights.shape != per_detection.shape or np.any(~(weights >= 0)):
            raise ValueError(f"weights must be {per_detection.shape[0]} numbers >= 0")
        per_detection = per_detection * weights
    per_image = aggregate_per_image(per_detection, image_index, n_images, aggregate)
    missed = np.isnan(per_image)
    top = np.float32(np.nanmax(per_image, initial=0))
    per_image[missed] = MISSED_OBJECTS_SCORE if top < MISSED_OBJECTS_SCORE \
        else np.nextafter(top, np.float32(np.inf))
    return ImageScores(per_image, missed)


RARE_CLASS_WEIGHT_CAP = 10.0


def rare_class_weights(predicted: np.ndarray, labeled_counts: np.ndarray,
                       power: float) -> np.ndarray:
    """Weights ``(M,)`` that favour detections of classes with few labels (Brust et al.,
    "Active Learning for Deep Object Detection", 2019, weight by class frequency):
    ``((mean_count + 1) / (count_c + 1)) ** power`` for each detection's ``predicted``
    class index ``c`` (M,) into ``labeled_counts`` (C,), the labeled boxes per class,
    at most :data:`RARE_CLASS_WEIGHT_CAP` (a class without labels in a large project
    would otherwise weigh hundreds, and one faint box of it outrank every image).
    ``power`` 0 weighs every class 1; a class with the mean count weighs about 1."""
    counts = np.asarray(labeled_counts, np.float64)
    mean = counts.mean() if len(counts) else 0.0
    per_class = np.minimum(((mean + 1.0) / (counts + 1.0)) ** float(power),
                           RARE_CLASS_WEIGHT_CAP)  # (C,)
    return per_class[np.asarray(predicted, np.int64)].astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes ``(M, 4)`` x ``(N, 4)`` -> ``(M, N)``."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (M, N, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def flip_boxes(boxes: np.ndarray, width: float) -> np.ndarray:
    """xyxy boxes ``(M, 4)`` of a horizontally flipped image of ``width``, mapped back
    to the unflipped image (or the other way: the map is its own inverse)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)


def _one_way_disagreement(boxes_a, scores_a, probs_a, boxes_b, probs_b) -> np.ndarray:
    """For each detection of view a: its score times (1 - agreement with its best-IoU
    partner in view b), agreement = IoU x class overlap (sum of the smaller
    probabilities, 1 for equal distributions)."""
    if len(boxes_a) == 0:
        return np.zeros(0)
    if len(boxes_b) == 0:
        return np.asarray(scores_a, np.float64)
    iou = box_iou(boxes_a, boxes_b)  # (A, B)
    partner = iou.argmax(axis=1)  # (A,)
    overlap = np.minimum(probs_a, probs_b[partner]).sum(axis=1)  # (A,)
    agreement = iou[np.arange(len(boxes_a)), partner] * overlap
    return np.asarray(scores_a, np.float64) * (1.0 - agreement)


def flip_inconsistency(original: tuple, flipped_back: tuple) -> float:
    """CALD-style disagreement between an image's detections and those on its horizontal
    flip (already mapped back): each view is ``(boxes (M, 4), scores (M,), probs (M, C))``.
    The image scores the largest score-weighted disagreement of any detection, in
    either direction, in [0, 1]: a confident box that moves, changes class or vanishes
    under the flip scores high; a low-score box on background barely counts. With no
    detection in either view: :data:`MISSED_OBJECTS_SCORE`."""
    (ba, sa, pa), (bb, sb, pb) = original, flipped_back
    if len(ba) == 0 and len(bb) == 0:
        return MISSED_OBJECTS_SCORE
    both = np.concatenate([_one_way_disagreement(ba, sa, pa, bb, pb),
                           _one_way_disagreement(bb, sb, pb, ba, pa)])
    return float(both.max())
