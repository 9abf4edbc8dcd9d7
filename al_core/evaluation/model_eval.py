"""Evaluate model versions on the project's frozen test split from their stored
predictions; every evaluation is stored with the test set's identity (comparing two
versions is :mod:`al_core.decide.comparison`)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from al_core.evaluation.metrics import ClassResult, Detections, EvalResult, GroundTruth, evaluate
from al_core.store import Store


def labels_ground_truth(store: Store, item_ids: Sequence[int]) -> GroundTruth:
    """The current labels of these items as evaluation arrays (``xywh`` (N, 4) float64
    absolute pixels)."""
    anns = [a for item_anns in store.annotations(list(item_ids)).values() for a in item_anns]
    xywh = np.array([a.box.as_xywh() for a in anns], dtype=np.float64).reshape(-1, 4)
    return GroundTruth(image=np.array([a.item_id for a in anns], dtype=np.int64),
                       label=np.array([a.class_id for a in anns], dtype=np.int64),
                       xywh=xywh, crowd=np.zeros(len(anns), bool), area=xywh[:, 2] * xywh[:, 3])


def test_ground_truth(store: Store) -> tuple[GroundTruth, list[int], str]:
    """The test split's current labels as evaluation arrays, its item ids and identity."""
    item_ids, digest = store.test_set_identity()
    if not item_ids:
        raise ValueError("the project has no labeled test items: split the labeled items "
                         "first (python -m al_core split)")
    auto = sorted(store.items_with_auto_accepted(item_ids))
    if auto:  # the store never puts them there (Store.set_splits, set_labels): refuse
        raise ValueError(f"{len(auto)} test images (e.g. #{auto[0]}) have auto-accepted boxes, "
                         "labels no person checked; a model is never scored against them. "
                         "Review those images again on the Review page (?item=ID) and save "
                         "them, then evaluate")
    return labels_ground_truth(store, item_ids), item_ids, digest


def model_detections(store: Store, model_id: int, item_ids: list[int]) -> Detections:
    """The model's stored boxes on these items. For models run by ``predict`` (which
    records every image it saw), images it never saw are refused rather than counted
    as misses."""
    missing = store.unpredicted_items(model_id, item_ids)
    if missing:
        raise ValueError(f"model #{model_id} has not predicted {len(missing)} of the "
                         f"{len(item_ids)} items asked for (e.g. item {missing[0]}); run "
                         f"`python -m al_core predict --model {model_id}` on them first "
                         f"(`--split test` for the test split)")
    rows = store.predictions(model_id, item_ids)
    if not rows and not store.items_without_embedding(model_id, item_ids):
        return Detections(image=np.zeros(0, np.int64), label=np.zeros(0, np.int64),
                          xywh=np.zeros((0, 4)), score=np.zeros(0))  # saw them, found nothing
    if not rows:
        raise ValueError(f"model #{model_id} has no predictions on the {len(item_ids)} "
                         "items asked for; run predict on them first (`--split test` for "
                         "the test split)")
    xyxy = np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows], dtype=np.float64)
    xywh = np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]
    return Detections(image=np.array([r["item_id"] for r in rows], dtype=np.int64),
                      label=np.array([r["class_id"] for r in rows], dtype=np.int64),
                      xywh=xywh, score=np.array([r["score"] for r in rows], dtype=np.float64))


def _from_row(row: dict) -> EvalResult:
    per_class = {int(c): ClassResult(v["ap"], v["num_gt"], np.array(row["pr_curves"][c]))
                 for c, v in row["per_class"].items()}
    return EvalResult(row["iou_threshold"], row["map"], per_class)


def evaluate_model(store: Store, model_id: int, *, iou_threshold: float = 0.5,
                   reuse: bool = True) -> tuple[EvalResult, str]:
    """Evaluate on the current test set (reusing a stored evaluation of the same test-set
    identity when ``reuse``); returns the result and the test set's identity. Storing a
    new evaluation is a reviewer's or a lead's work in team mode (``evaluate``); reading
    a stored one is anyone's."""
    store.model(model_id)  # a clear KeyError for an unknown id
    gt, item_ids, digest = test_ground_truth(store)
    if reuse and (row := store.evaluation(model_id, digest, iou_threshold)):
        return _from_row(row), digest
    store.authorize("evaluate")
    result = evaluate(gt, model_detections(store, model_id, item_ids),
                      iou_threshold=iou_threshold, class_ids=[c.id for c in store.classes()])
    store.save_evaluation(
        model_id=model_id, test_set_hash=digest, iou_threshold=iou_threshold, map=result.map,
        per_class={c: {"ap": r.ap, "num_gt": r.num_gt} for c, r in result.per_class.items()},
        pr_curves={c: r.precision.tolist() for c, r in result.per_class.items()})
    store.audit("model.evaluate", object_type="model", object_id=model_id,
                summary=f"evaluated model #{model_id} on test set {digest}: mAP@"
                        f"{iou_threshold:g} {result.map:.4f}",
                after={"map": result.map, "test_set": digest, "iou": iou_threshold})
    return result, digest


def check_same_test_set(new_hash: str, old_hash: str) -> None:
    if new_hash != old_hash:
        raise ValueError(f"the evaluations were made on different test sets ({new_hash} vs "
                         f"{old_hash}); evaluate both models on the same test set first")
