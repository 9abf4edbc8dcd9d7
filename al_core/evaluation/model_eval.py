"""Evaluate model versions on the project's frozen test split and run the compare node
between them; every evaluation and decision is stored with its inputs' identity."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from al_core.compare import CompareConfig, Decision, bootstrap_map_delta, decide
from al_core.evaluation import ClassResult, Detections, EvalResult, GroundTruth, evaluate
from al_core.jobs import Cancelled, PartReporter
from al_core.names import normalize_name
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
    identity when ``reuse``); returns the result and the test set's identity."""
    store.model(model_id)  # a clear KeyError for an unknown id
    gt, item_ids, digest = test_ground_truth(store)
    if reuse and (row := store.evaluation(model_id, digest, iou_threshold)):
        return _from_row(row), digest
    result = evaluate(gt, model_detections(store, model_id, item_ids),
                      iou_threshold=iou_threshold, class_ids=[c.id for c in store.classes()])
    store.save_evaluation(
        model_id=model_id, test_set_hash=digest, iou_threshold=iou_threshold, map=result.map,
        per_class={c: {"ap": r.ap, "num_gt": r.num_gt} for c, r in result.per_class.items()},
        pr_curves={c: r.precision.tolist() for c, r in result.per_class.items()})
    return result, digest


def check_same_test_set(new_hash: str, old_hash: str) -> None:
    if new_hash != old_hash:
        raise ValueError(f"the evaluations were made on different test sets ({new_hash} vs "
                         f"{old_hash}); evaluate both models on the same test set first")


def compare_models(store: Store, new_id: int, old_id: int | None, config: CompareConfig, *,
                   raw_config: dict, apply: bool = False, decided_by: str = "cli",
                   should_stop: Callable[[], bool] | None = None,
                   on_commit: Callable[[], None] | None = None) -> Decision:
    """Both models evaluated on the current frozen test set, then the compare node. With
    no ``old_id`` the active model is the old one (none: the new model wins as the first).
    The comparison is always stored; ``apply`` also carries out the decision.

    In a job: ``should_stop`` is checked between the evaluations and bootstrap batches
    (raising :class:`~al_core.jobs.Cancelled`), and ``on_commit`` (the job's
    :meth:`~al_core.jobs.Reporter.commit`) runs inside the transaction that stores the
    comparison and applies it, so a cancel stores nothing and changes no active model."""
    decided_by = normalize_name(decided_by, kind="person")  # before any work, not at the save
    old_id = store.active_model_id() if old_id is None else old_id
    if old_id == new_id:
        raise ValueError(f"model #{new_id} cannot be compared with itself")
    if apply and store.model(new_id)["status"] == "external":
        raise ValueError(f"model #{new_id} is an external model (imported predictions); it "
                         "can be compared but not made active")
    def check() -> None:
        if should_stop and should_stop():
            raise Cancelled()

    new, new_hash = evaluate_model(store, new_id, iou_threshold=config.iou_threshold)
    old, boot = None, None
    if old_id is not None:
        check()
        old, old_hash = evaluate_model(store, old_id, iou_threshold=config.iou_threshold)
        check_same_test_set(new_hash, old_hash)
        if config.bootstrap_samples:
            gt, item_ids, _ = test_ground_truth(store)
            boot = bootstrap_map_delta(
                gt, model_detections(store, new_id, item_ids),
                model_detections(store, old_id, item_ids), iou_threshold=config.iou_threshold,
                samples=config.bootstrap_samples, seed=config.bootstrap_seed,
                should_stop=should_stop)
    check()
    decision = decide(new, old, config, bootstrap=boot,
                      names={c.id: c.name for c in store.classes()})
    with store.write():
        check()
        if on_commit:
            on_commit()
        if apply and store.active_model_id() != old_id:  # another promotion meanwhile
            raise ValueError(f"the active model changed while model #{new_id} was being "
                             f"compared with {f'#{old_id}' if old_id is not None else 'none'}"
                             "; compare it again with the model active now")
        comparison_id = store.save_comparison(
            new_model_id=new_id, old_model_id=old_id, config=raw_config,
            test_set_hash=new_hash, decision=decision.decision, reason=decision.reason,
            per_class=[vars(c) for c in decision.per_class], decided_by=decided_by,
            iou_threshold=config.iou_threshold, new_map=new.map,
            old_map=old.map if old is not None else None, confidence=decision.confidence,
            delta_interval=decision.delta_interval)
        if apply:
            store.apply_decision(new_id, decision.decision, decided_by=decided_by,
                                 why=decision.reason, comparison_id=comparison_id)
    return decision


def predict_missing_test(store: Store, model_ids: Sequence[int | None], reporter, *,
                         share: float = 1.0) -> dict[int, int]:
    """Run each model that has a checkpoint on the test items it has not predicted yet,
    so it can be evaluated (external models keep their imported predictions; ``None``
    ids are skipped). ``reporter`` has ``progress(fraction, message)`` and
    ``cancel_requested()``, as a job's :class:`~al_core.jobs.Reporter`; the predictions
    take the first ``share`` of its bar. Returns {model id: test images predicted now}.
    Torch loads only when there is something to predict."""
    test_ids, _ = store.test_set_identity()
    todo = {m: store.items_without_embedding(m, test_ids)
            for m in dict.fromkeys(m for m in model_ids if m is not None)
            if store.model(m)["checkpoint_path"]}
    todo = {m: ids for m, ids in todo.items() if ids}
    if todo:
        from al_core.registry import predict_items  # loads torch

        for n, (model_id, missing) in enumerate(todo.items()):
            predict_items(store, model_id, missing, reporter=PartReporter(
                reporter.progress, reporter.cancel_requested, share * n / len(todo),
                share / len(todo), f"model #{model_id} on the test split"))
    return {m: len(ids) for m, ids in todo.items()}
