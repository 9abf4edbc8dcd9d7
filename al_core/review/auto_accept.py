"""Box-level review: ask people only about the boxes the model is unsure of.

Each class gets a confidence threshold, set on the labeled validation images: the
lowest score such that the model's boxes of that class scoring at or above it are at
least :data:`TARGET_PRECISION` precise there. A pre-label at or above its class's
threshold is accepted without asking (saved as an auto-accepted box, marked in the
database); the annotator decides only the rest and draws what is missing. Box-level
active detection (Lyu et al., "Box-Level Active Detection", CVPR 2023) shows the idea.

How a threshold is set, and when there is none:

- A validation box of the model is right when it matches a true box of the same class
  at IoU >= :data:`MATCH_IOU`, one-to-one, greedily by score (the highest-scoring box
  takes the best free true box first), as COCO's evaluation matches.
- Candidate thresholds are the scores of the class's validation boxes; the threshold is
  the lowest candidate whose boxes at or above it are at least ``precision`` precise
  and number at least :data:`MIN_SUPPORT`. 20 is the fewest boxes at which 95% still
  allows one wrong box (19 of 20); below it a single box moves the precision by more
  than 5 points, and 95% can only be shown by having no wrong box at all. (A Wilson
  lower bound at 95% confidence would ask for about 73 right boxes out of 73: no class
  of the demos has that many validation boxes in the first rounds, so box-level review
  would never act.) A class with fewer validation boxes, or none at 95%, gets no
  threshold: nothing of it is auto-accepted.
- Validation images whose labels include auto-accepted boxes are left out (the model
  would be checked against labels a model made); so are classes never predicted there.
- While the model has not predicted every validation image, no class has a threshold.

Thresholds are stored per model and validation set (the labeled val images' ids and
label versions, :meth:`Store.split_identity`): a new model, or a new validation label,
computes them again (:func:`thresholds_for`). Boxes are float ``[x1, y1, x2, y2]`` in
absolute image pixels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from al_core.query.measures import box_iou
from al_core.store import Store
from al_core.types import LabeledBox

TARGET_PRECISION = 0.95
MATCH_IOU = 0.5
MIN_SUPPORT = 20


@dataclass(frozen=True)
class ClassThreshold:
    """One class's threshold (None: nothing of the class is auto-accepted, ``why`` says
    why), with the validation boxes at or above it (``support``) and their precision."""

    class_id: int
    threshold: float | None
    support: int
    precision: float | None
    why: str = ""


@dataclass(frozen=True)
class Thresholds:
    """A model's per-class thresholds on the validation set ``val_set_hash``."""

    model_id: int
    val_set_hash: str
    classes: dict[int, ClassThreshold]
    val_images: int  # validation images the thresholds were set on
    unpredicted: int = 0  # validation images the model had not predicted (then: none)

    def threshold(self, class_id: int) -> float | None:
        c = self.classes.get(class_id)
        return c.threshold if c is not None else None

    def accepts(self, class_id: int, score: float | None) -> bool:
        """Whether a pre-label of this class and score is accepted without asking."""
        t = self.threshold(class_id)
        return t is not None and score is not None and score >= t


def match_predictions(pred_boxes: np.ndarray, pred_scores: np.ndarray,
                      pred_classes: np.ndarray, true_boxes: np.ndarray,
                      true_classes: np.ndarray, *, iou_threshold: float = MATCH_IOU
                      ) -> np.ndarray:
    """One image: which predictions are right, ``(M,)`` bool. ``pred_boxes`` (M, 4) and
    ``true_boxes`` (G, 4) xyxy pixels, classes (M,) and (G,) ints, scores (M,). In
    descending score order (ties in input order), each prediction takes the free true
    box of its class with the highest IoU, if that IoU is at least ``iou_threshold``."""
    pred_classes = np.asarray(pred_classes).reshape(-1)
    true_classes = np.asarray(true_classes).reshape(-1)
    right = np.zeros(len(pred_classes), bool)
    if len(pred_classes) == 0 or len(true_classes) == 0:
        return right
    iou = box_iou(np.asarray(pred_boxes, np.float64).reshape(-1, 4),
                  np.asarray(true_boxes, np.float64).reshape(-1, 4))  # (M, G)
    iou[pred_classes[:, None] != true_classes[None, :]] = -1.0
    free = np.ones(len(true_classes), bool)
    for m in np.argsort(-np.asarray(pred_scores, np.float64), kind="stable"):
        candidates = np.where(free, iou[m], -1.0)
        g = int(np.argmax(candidates))
        if candidates[g] >= iou_threshold:
            right[m], free[g] = True, False
    return right


def lowest_threshold(scores: np.ndarray, right: np.ndarray, *,
                     precision: float = TARGET_PRECISION, min_support: int = MIN_SUPPORT
                     ) -> ClassThreshold:
    """The lowest score ``t`` such that the boxes scoring at least ``t`` number at least
    ``min_support`` and are at least ``precision`` right (``scores``, ``right`` (N,) for
    one class's boxes). ``class_id`` is left -1 for the caller to fill in."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    right = np.asarray(right, bool).reshape(-1)
    finite = np.isfinite(scores)  # a NaN score would sort last and become the threshold
    scores, right = scores[finite], right[finite]
    n = len(scores)
    if n < min_support:
        return ClassThreshold(-1, None, n, None,
                              f"{n} validation boxes, fewer than the {min_support} needed")
    order = np.argsort(-scores, kind="stable")
    s, tp = scores[order], np.cumsum(right[order])
    k = np.arange(1, n + 1)
    last_of_tie = np.r_[s[1:] < s[:-1], True]  # a threshold takes every box of its score
    ok = last_of_tie & (k >= min_support) & (tp / k >= precision - 1e-12)
    if not ok.any():
        best = float((tp / k)[last_of_tie & (k >= min_support)].max())
        return ClassThreshold(-1, None, n, None,
                              f"no score reaches {precision:.0%} precision over at least "
                              f"{min_support} validation boxes (best {best:.1%})")
    j = int(np.flatnonzero(ok)[-1])
    return ClassThreshold(-1, float(s[j]), int(k[j]), float(tp[j] / k[j]))


def class_thresholds(store: Store, model_id: int, *, precision: float = TARGET_PRECISION,
                     iou_threshold: float = MATCH_IOU, min_support: int = MIN_SUPPORT
                     ) -> Thresholds:
    """Compute the model's thresholds on the current labeled validation images (see the
    module doc). Reads the stored predictions; predicts nothing."""
    val_ids, digest = store.split_identity("val")
    class_ids = [c.id for c in store.classes()]
    unpredicted = unpredicted_by(store, model_id, val_ids)
    if unpredicted:
        why = (f"model #{model_id} has not predicted {len(unpredicted)} of the "
               f"{len(val_ids)} validation images")
        return Thresholds(model_id, digest, {c: ClassThreshold(c, None, 0, None, why)
                                             for c in class_ids}, 0, len(unpredicted))
    used = sorted(set(val_ids) - store.items_with_auto_accepted(val_ids))
    # every box, whoever acts: the page computes (and stores, for everyone) these as the
    # annotator who opened it, whose reads hide gold images' boxes; no box is shown here
    truth = store._annotations(used)
    found: dict[int, list[dict]] = {i: [] for i in used}
    for row in store.predictions(model_id, used):
        found[row["item_id"]].append(row)
    scores: dict[int, list[float]] = {c: [] for c in class_ids}
    right: dict[int, list[bool]] = {c: [] for c in class_ids}
    for item_id in used:
        rows = [r for r in found[item_id] if r["class_id"] in scores]
        ok = match_predictions(
            np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows]).reshape(-1, 4),
            np.array([r["score"] for r in rows]), np.array([r["class_id"] for r in rows]),
            np.array([a.box.as_list() for a in truth[item_id]]).reshape(-1, 4),
            np.array([a.class_id for a in truth[item_id]]), iou_threshold=iou_threshold)
        for r, good in zip(rows, ok):
            scores[r["class_id"]].append(r["score"])
            right[r["class_id"]].append(bool(good))
    out = {}
    for c in class_ids:
        t = lowest_threshold(np.array(scores[c]), np.array(right[c]), precision=precision,
                             min_support=min_support)
        out[c] = ClassThreshold(c, t.threshold, t.support, t.precision, t.why)
    return Thresholds(model_id, digest, out, len(used))


def thresholds_for(store: Store, model_id: int, *, precision: float = TARGET_PRECISION,
                   iou_threshold: float = MATCH_IOU, min_support: int = MIN_SUPPORT
                   ) -> Thresholds:
    """The model's thresholds on the current validation set: stored ones when the model,
    the validation set's identity and the settings are the same, else computed now and
    stored (not while validation images are unpredicted: they are computed again once
    they are predicted)."""
    settings = {"precision": precision, "iou_threshold": iou_threshold,
                "min_support": min_support}
    _, digest = store.split_identity("val")
    stored = store.auto_accept_thresholds(model_id, digest)
    if stored is not None and stored["settings"].get("precision") == precision and \
            stored["settings"].get("iou_threshold") == iou_threshold and \
            stored["settings"].get("min_support") == min_support:
        classes = {int(c): ClassThreshold(**v) for c, v in stored["classes"].items()}
        return Thresholds(model_id, digest, classes, stored["settings"].get("val_images", 0))
    result = class_thresholds(store, model_id, precision=precision,
                              iou_threshold=iou_threshold, min_support=min_support)
    # stored once every validation image is predicted and some box was found: a model
    # that has predicted nothing yet is asked again, never cached as having no threshold
    if not result.unpredicted and any(t.support for t in result.classes.values()):
        store.save_auto_accept_thresholds(
            model_id, digest, settings={**settings, "val_images": result.val_images},
            classes={str(c): asdict(t) for c, t in result.classes.items()})
    return result


def predict_validation(store: Store, model_id: int) -> int:
    """Run the model on the validation images it has not predicted (torch loads here);
    returns how many it ran on."""
    val_ids, _ = store.split_identity("val")
    missing = unpredicted_by(store, model_id, val_ids) if store.model(model_id).get(
        "checkpoint_path") else []
    if missing:
        from al_core.training.prediction import predict_items

        predict_items(store, model_id, missing)
    return len(missing)


def unpredicted_by(store: Store, model_id: int, item_ids: Sequence[int]) -> list[int]:
    """The items a model with a checkpoint has not predicted (one that has predicted
    nothing yet has predicted none of them); for an imported external model, which
    cannot be run, none (its predictions are all there will be)."""
    if store.model(model_id).get("checkpoint_path"):
        return store.items_without_embedding(model_id, item_ids)
    return store.unpredicted_items(model_id, item_ids)


def split_prelabels(prelabels: Sequence[tuple[LabeledBox, float]], thresholds: Thresholds | None
                    ) -> tuple[list[tuple[LabeledBox, float]], list[tuple[LabeledBox, float]]]:
    """``(accepted, uncertain)``: the pre-labels at or above their class's threshold, and
    the rest, each in the order given. With no thresholds, nothing is accepted."""
    accepted, uncertain = [], []
    for box, score in prelabels:
        ok = thresholds is not None and thresholds.accepts(box.class_id, score)
        (accepted if ok else uncertain).append((box, score))
    return accepted, uncertain


# -- the oracle simulation's box-level annotator ---------------------------------------
@dataclass(frozen=True)
class OracleReview:
    """One image reviewed box-level by the oracle: ``saved`` the labels (``auto[k]`` set
    on an auto-accepted box, kept as predicted), ``changes`` what the person did to the
    pre-labels they were asked about (the change counts the effort model prices; the
    auto-accepted boxes cost nothing), ``noise`` the saved labels against the truth."""

    saved: list[LabeledBox]
    auto: list[bool]
    changes: object  # al_core.review.changes.ChangeCounts
    noise: dict[str, int]  # right (saved boxes matching a true box), saved, truth


def oracle_box_level(prelabels: Sequence[tuple[LabeledBox, float]], truth: Sequence[LabeledBox],
                     thresholds: Thresholds | None, *, min_score: float) -> OracleReview:
    """The oracle as a box-level annotator: the pre-labels scoring at least ``min_score``
    and at or above their class's threshold are accepted as predicted; every true box
    that no accepted box covers (IoU >= :data:`MATCH_IOU`, one-to-one, any class: the
    annotator sees a box there) comes from the oracle, and the changes are counted
    against the other shown pre-labels as :func:`al_core.review.corrections` counts them."""
    from al_core.review.corrections import FIT_IOU
    from al_core.review.changes import match_changes
    from al_core.review.prelabel_threshold import min_score_of  # it imports this module

    shown = [(b, s) for b, s in prelabels if s >= min_score_of(min_score, b.class_id)]
    accepted, asked = split_prelabels(shown, thresholds)
    acc = [b for b, _ in accepted]
    covered = match_predictions(
        np.array([t.box.as_list() for t in truth]).reshape(-1, 4), -np.arange(len(truth)),
        np.zeros(len(truth)), np.array([b.box.as_list() for b in acc]).reshape(-1, 4),
        np.zeros(len(acc)))  # (T,): a true box some accepted box covers
    person = [t for t, c in zip(truth, covered) if not c]
    changes = match_changes([b for b, _ in asked], person, fit_iou=FIT_IOU)
    saved = acc + person
    return OracleReview(saved, [True] * len(acc) + [False] * len(person), changes,
                        label_noise(saved, truth))


def label_noise(saved: Sequence[LabeledBox], truth: Sequence[LabeledBox]) -> dict[str, int]:
    """``{right, saved, truth}``: saved boxes matching a true box of their class at IoU >=
    :data:`MATCH_IOU` one-to-one (precision = right / saved, recall = right / truth)."""
    right = match_predictions(
        np.array([b.box.as_list() for b in saved]).reshape(-1, 4), -np.arange(len(saved)),
        np.array([b.class_id for b in saved]),
        np.array([t.box.as_list() for t in truth]).reshape(-1, 4),
        np.array([t.class_id for t in truth]))
    return {"right": int(right.sum()), "saved": len(saved), "truth": len(truth)}
