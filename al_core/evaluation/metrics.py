"""Per-class precision-recall and AP at one IoU threshold, numerically identical to
pycocotools' ``COCOeval`` (bbox, area "all", maxDets 100) and vectorised.

What moves AP when done differently, and is done here as pycocotools does it:
boxes are ``[x, y, w, h]`` and IoU is computed in float64 exactly as its ``bbIou``;
detections are sorted by score with a stable sort (input order breaks ties inside an
image, ascending image id across images); at most ``max_dets`` per image per class;
a detection matches the unmatched ground truth of highest IoU ``>= threshold`` (the
last one on equal IoU), crowd / out-of-range ground truth only if no regular one
matches; the precision envelope; recall thresholds ``np.linspace(0, 1, 101)`` looked up
with ``searchsorted(side="left")``; images without detections still count their ground
truth; classes without ground truth are left out of the mean. Unlike pycocotools, an
empty detection list gives AP 0 instead of an exception, and a ground-truth id of 0 is
not mistaken for "unmatched".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from al_core.names import printable

RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGE = (0.0, 1e5 ** 2)  # COCO's "all"


@dataclass(frozen=True)
class GroundTruth:
    """N boxes in file order. ``xywh`` (N, 4) float64; ``image``, ``label`` (N,) int64;
    ``crowd`` (N,) bool; ``area`` (N,) float64 (COCO's area field, used for ranges)."""

    image: np.ndarray
    label: np.ndarray
    xywh: np.ndarray
    crowd: np.ndarray
    area: np.ndarray


@dataclass(frozen=True)
class Detections:
    """M detections in input order: ``image``, ``label`` (M,) int64; ``xywh`` (M, 4)
    float64; ``score`` (M,) float64."""

    image: np.ndarray
    label: np.ndarray
    xywh: np.ndarray
    score: np.ndarray


@dataclass(frozen=True)
class ClassResult:
    ap: float
    num_gt: int
    precision: np.ndarray  # (101,) interpolated precision at RECALL_THRESHOLDS


@dataclass(frozen=True)
class EvalResult:
    iou_threshold: float
    map: float  # mean AP over classes with ground truth (0.0 when there are none)
    per_class: dict[int | str, ClassResult]  # by class id; only classes with ground truth


def box_iou_xywh(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """Element-wise IoU of paired boxes (K, 4) as pycocotools' ``bbIou``: a crowd box's
    union is the detection's own area."""
    w = np.minimum(dt[:, 2] + dt[:, 0], gt[:, 2] + gt[:, 0]) - np.maximum(dt[:, 0], gt[:, 0])
    h = np.minimum(dt[:, 3] + dt[:, 1], gt[:, 3] + gt[:, 1]) - np.maximum(dt[:, 1], gt[:, 1])
    inter = w * h
    da, ga = dt[:, 2] * dt[:, 3], gt[:, 2] * gt[:, 3]
    union = np.where(crowd, da, da + ga - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)


def _group_rank(keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal (sorted) keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


def _match(dt_key, dt_xywh, dt_rank, gt_key, gt_xywh, gt_ignore, gt_crowd, threshold):
    """Greedy matching, one detection rank at a time for all (image, class) groups at
    once. Returns (matched (M,) bool, matched_ignored (M,) bool) for sorted detections."""
    m = len(dt_key)
    matched, matched_ignored = np.zeros(m, bool), np.zeros(m, bool)
    start = np.searchsorted(gt_key, dt_key, "left")
    count = np.searchsorted(gt_key, dt_key, "right") - start
    d = np.repeat(np.arange(m), count)  # (P,) candidate pairs sharing image and class
    g = np.repeat(start - np.r_[0, np.cumsum(count)[:-1]], count) + np.arange(count.sum())
    iou = box_iou_xywh(dt_xywh[d], gt_xywh[g], gt_crowd[g])
    keep = iou >= min(threshold, 1 - 1e-10)
    d, g, iou = d[keep], g[keep], iou[keep]
    # within a rank: regular ground truth first, then highest IoU, then the last one
    order = np.lexsort((g, iou, ~gt_ignore[g], d, dt_rank[d]))
    d, g, iou = d[order], g[order], iou[order]
    taken = np.zeros(len(gt_key), bool)
    bounds = np.searchsorted(dt_rank[d], np.arange(dt_rank.max(initial=-1) + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        sd, sg = d[lo:hi], g[lo:hi]
        free = ~taken[sg] | gt_crowd[sg]
        sd, sg = sd[free], sg[free]
        if len(sd) == 0:
            continue
        last = np.r_[sd[1:] != sd[:-1], True]  # best candidate of each detection
        sd, sg = sd[last], sg[last]
        matched[sd] = True
        matched_ignored[sd] = gt_ignore[sg]
        taken[sg] = True
    return matched, matched_ignored


def _precision_curve(tp: np.ndarray, fp: np.ndarray, num_gt: int) -> np.ndarray:
    tp_sum, fp_sum = np.cumsum(tp, dtype=np.float64), np.cumsum(fp, dtype=np.float64)
    recall = tp_sum / num_gt
    precision = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope
    q = np.zeros(len(RECALL_THRESHOLDS))
    idx = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
    ok = idx < len(precision)
    q[ok] = precision[idx[ok]]
    return q


def evaluate(gt: GroundTruth, dt: Detections, *, iou_threshold: float = 0.5,
             max_dets: int = 100, class_ids=None) -> EvalResult:
    """AP per class at ``iou_threshold`` over the images of ``gt``'s classes (or the
    given ``class_ids``). Detections on images or classes outside the evaluation are
    ignored by the caller's choice of inputs; see :func:`evaluate_coco`."""
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold {iou_threshold} is outside [0, 1]")
    classes = np.unique(gt.label) if class_ids is None else np.asarray(sorted(class_ids))
    images = np.unique(np.r_[gt.image, dt.image])
    n_img = len(images)
    gt_ignore = gt.crowd | (gt.area < AREA_RANGE[0]) | (gt.area > AREA_RANGE[1])
    gt_key = np.searchsorted(classes, gt.label) * n_img + np.searchsorted(images, gt.image)
    gorder = np.lexsort((gt_ignore, gt_key))  # stable: file order within a group
    gt_key, gt_xywh = gt_key[gorder], gt.xywh[gorder]
    gt_ignore, gt_crowd = gt_ignore[gorder], gt.crowd[gorder]

    in_eval = np.isin(dt.label, classes)
    idx = np.flatnonzero(in_eval)
    dt_key = np.searchsorted(classes, dt.label[idx]) * n_img + np.searchsorted(images, dt.image[idx])
    dorder = idx[np.lexsort((idx, -dt.score[idx], dt_key))]  # group, score desc, input order
    dt_key = np.searchsorted(classes, dt.label[dorder]) * n_img + np.searchsorted(
        images, dt.image[dorder])
    rank = _group_rank(dt_key)
    top = rank < max_dets
    dorder, dt_key, rank = dorder[top], dt_key[top], rank[top]
    dt_xywh, dt_score = dt.xywh[dorder], dt.score[dorder]

    matched, matched_ignored = _match(dt_key, dt_xywh, rank, gt_key, gt_xywh, gt_ignore,
                                      gt_crowd, iou_threshold)
    area = dt_xywh[:, 2] * dt_xywh[:, 3]
    ignored = matched_ignored | (~matched & ((area < AREA_RANGE[0]) | (area > AREA_RANGE[1])))
    tp, fp = matched & ~ignored, ~matched & ~ignored

    dt_class = dt_key // n_img if n_img else dt_key
    acc = np.lexsort((np.arange(len(dt_key)), -dt_score, dt_class))  # class, score desc
    dt_class, tp, fp = dt_class[acc], tp[acc], fp[acc]
    bounds = np.searchsorted(dt_class, np.arange(len(classes) + 1))
    num_gt = np.bincount((gt_key // n_img)[~gt_ignore] if n_img else gt_key,
                         minlength=len(classes))
    per_class: dict[int, ClassResult] = {}
    for k, class_id in enumerate(classes):
        if num_gt[k] == 0:
            continue
        lo, hi = bounds[k], bounds[k + 1]
        q = _precision_curve(tp[lo:hi], fp[lo:hi], int(num_gt[k]))
        per_class[int(class_id)] = ClassResult(float(np.mean(q)), int(num_gt[k]), q)
    mean = float(np.mean([r.ap for r in per_class.values()])) if per_class else 0.0
    return EvalResult(iou_threshold, mean, per_class)


def _number_list(value, where: str) -> list[float]:
    if not isinstance(value, list) or len(value) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{where}: bbox {str(value)[:60]} is not four numbers")
    return [float(v) for v in value]


@dataclass(frozen=True)
class CocoIds:
    """A COCO file's image and category ids -> the int64 indices the arrays hold.

    Ids are whatever pycocotools accepts: it uses them as dict keys and sorts them, so
    strings (VisDrone's ``"0000001_02999_d_0000005"``) or numbers, all of one kind. An
    index is the id's position in sorted order, pycocotools' order of evaluation (it
    breaks score ties across images by it). Ids match by value as dict keys do: ``1``
    and ``1.0`` are one id, ``1`` and ``"1"`` are not."""

    images: dict
    categories: dict
    names: dict  # category id -> name


def _sorted_index(ids: list, what: str) -> dict:
    try:
        distinct = sorted(set(ids))
    except TypeError:  # an unhashable id (a list), or strings beside numbers
        kinds = sorted({type(v).__name__ for v in ids})
        raise ValueError(f"{what} ids must all be strings or all be numbers (pycocotools "
                         f"sorts them); found {', '.join(kinds)}") from None
    return {v: k for k, v in enumerate(distinct)}


def _position(index: dict, value) -> int:
    """The index of ``value`` in ``index``, or -1 where it is no such id."""
    try:
        return index.get(value, -1)
    except TypeError:  # unhashable: no id at all
        return -1


def coco_ground_truth(gt: dict) -> tuple[GroundTruth, CocoIds]:
    """Arrays from a COCO instances dict (image and category ids as indices), and the
    ids. Annotations on images or categories the file does not list are left out."""
    if not isinstance(gt, dict) or not all(isinstance(gt.get(k), list)
                                           for k in ("images", "annotations", "categories")):
        raise ValueError("ground truth must be a COCO instances object with 'images', "
                         "'annotations' and 'categories' lists")
    for what in ("images", "categories"):
        if not all(isinstance(v, dict) and "id" in v for v in gt[what]):
            raise ValueError(f"ground truth: every entry of '{what}' must be an object "
                             "with an 'id'")
    if not all(isinstance(a, dict) for a in gt["annotations"]):
        raise ValueError("ground truth: every entry of 'annotations' must be an object")
    categories = _sorted_index([c["id"] for c in gt["categories"]], "category")
    ids = CocoIds(_sorted_index([i["id"] for i in gt["images"]], "ground-truth image"),
                  categories, {c["id"]: str(c.get("name", c["id"])) for c in gt["categories"]})
    rows = [(a, image, label) for a in gt["annotations"]
            if (image := _position(ids.images, a.get("image_id"))) >= 0
            and (label := _position(ids.categories, a.get("category_id"))) >= 0]
    xywh = np.array([_number_list(a.get("bbox"), f"annotation {a.get('id')}")
                     for a, _, _ in rows], dtype=np.float64).reshape(-1, 4)
    area = np.array([a["area"] if "area" in a else b[2] * b[3]
                     for (a, _, _), b in zip(rows, xywh)], dtype=np.float64)
    return GroundTruth(
        image=np.array([image for _, image, _ in rows], dtype=np.int64),
        label=np.array([label for _, _, label in rows], dtype=np.int64),
        xywh=xywh, crowd=np.array([bool(a.get("iscrowd", 0)) for a, _, _ in rows], dtype=bool),
        area=area), ids


def coco_detections(results: list, ids: CocoIds) -> Detections:
    """Arrays from a COCO results list, ids as ``ids``' indices; every image id must be
    a ground-truth image id (pycocotools refuses the file otherwise); a category that is
    not the ground truth's gets label -1 and is not evaluated."""
    if not isinstance(results, list):
        raise ValueError("detections must be a COCO results list of "
                         "{image_id, category_id, bbox, score}")
    images = []
    for n, r in enumerate(results):
        if not isinstance(r, dict) or _position(ids.images, r.get("image_id")) < 0:
            raise ValueError(f"detection #{n}: {_unknown_image(r, ids)}")
        if not isinstance(r.get("score"), (int, float)):
            raise ValueError(f"detection #{n}: score {r.get('score')!r} is not a number")
        images.append(ids.images[r["image_id"]])
    return Detections(
        image=np.array(images, dtype=np.int64),
        label=np.array([_position(ids.categories, r.get("category_id")) for r in results],
                       dtype=np.int64),
        xywh=np.array([_number_list(r.get("bbox"), f"detection #{n}")
                       for n, r in enumerate(results)], dtype=np.float64).reshape(-1, 4),
        score=np.array([r["score"] for r in results], dtype=np.float64))


def _unknown_image(r, ids: CocoIds) -> str:
    value = r.get("image_id") if isinstance(r, dict) else r
    message = f"image_id {value!r} is not an image of the ground truth"
    twin = next((i for i in ids.images if str(i) == str(value)), None)
    if twin is not None:
        message += (f", whose id is {twin!r} ({type(twin).__name__}, not "
                    f"{type(value).__name__}): ids match by value and type, as in pycocotools")
    return message


def evaluate_coco(gt: dict, results: list, *, iou_threshold: float = 0.5
                  ) -> tuple[EvalResult, dict]:
    """Evaluate a COCO results list against a COCO instances dict, as COCOeval would
    with ``iouThrs=[iou_threshold]``; returns the result (``per_class`` keyed by the
    file's category ids) and category id -> name. Ids as :class:`CocoIds` describes."""
    truth, ids = coco_ground_truth(gt)
    dets = coco_detections(results, ids)
    result = evaluate(truth, dets, iou_threshold=iou_threshold,
                      class_ids=range(len(ids.categories)))
    category = {k: v for v, k in ids.categories.items()}
    per_class = {category[k]: r for k, r in result.per_class.items()}
    return EvalResult(result.iou_threshold, result.map, per_class), ids.names


def degenerate_ground_truth(gt: dict) -> list[str]:
    """One line per scored ground-truth box (its image and category in the file) whose
    bbox has zero or negative width or height, naming the annotation and its image: no
    detection can match it, and it is kept, as pycocotools keeps it: a missed object,
    or ignored where it is a crowd region or its area is outside COCO's range. (Import
    refuses such boxes.) ``gt`` as :func:`evaluate_coco` takes it; raises ValueError
    where :func:`coco_ground_truth` does."""
    _, ids = coco_ground_truth(gt)
    lines = []
    for a in gt["annotations"]:
        if _position(ids.images, a.get("image_id")) < 0 \
                or _position(ids.categories, a.get("category_id")) < 0:
            continue
        _, _, w, h = _number_list(a.get("bbox"), f"annotation {a.get('id')}")
        if w > 0 and h > 0:
            continue
        try:  # as coco_ground_truth reads it (numpy: null is nan, "1e11" a number)
            area = float(np.float64(a["area"] if "area" in a else w * h))
        except (TypeError, ValueError):
            area = float("nan")
        fate = ("it is ignored, a crowd region" if a.get("iscrowd", 0) else
                f"it is ignored, its area {area:g} is outside COCO's range"
                if area < AREA_RANGE[0] or area > AREA_RANGE[1] else
                "it counts as a missed object")
        lines.append(f"annotation {printable(repr(a.get('id')), 40)} of image "
                     f"{printable(repr(a['image_id']), 40)}: bbox width {w:g}, height {h:g}: "
                     f"no detection can match it; {fate}, as in pycocotools (import "
                     "refuses such a box)")
    return lines


def result_json(result: EvalResult, names: dict) -> dict:
    """The ``--json`` schema shared by ``eval-coco`` and ``evaluate``."""
    return {"iou_threshold": result.iou_threshold, "map": result.map,
            "per_class": {names[c]: {"ap": r.ap, "num_gt": r.num_gt}
                          for c, r in result.per_class.items()}}
