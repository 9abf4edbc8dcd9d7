"""Comparing two model versions: both evaluated on the current frozen test split (each
first run on the test items it has not predicted), then the compare node's decision
stored with its inputs' identity and, when asked, carried out."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from al_core.decide.compare import CompareConfig, Decision, bootstrap_map_delta, decide
from al_core.evaluation.model_eval import (check_same_test_set, evaluate_model,
                                           model_detections, test_ground_truth)
from al_core.jobs.reporter import PartReporter
from al_core.jobs.runner import Cancelled
from al_core.names import normalize_name
from al_core.store import Store


def compare_models(store: Store, new_id: int, old_id: int | None, config: CompareConfig, *,
                   raw_config: dict, apply: bool = False, decided_by: str | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   on_commit: Callable[[], None] | None = None) -> Decision:
    """Both models evaluated on the current frozen test set, then the compare node. With
    no ``old_id`` the active model is the old one; with none active there is nothing to
    compare with: ValueError (a project's first model is made active when its training
    ends, :meth:`~al_core.store.Store.activate_first_model`; an older project's with
    :func:`~al_core.decide.promotion.make_first_active`). The comparison is always
    stored; ``apply`` also carries out the decision.

    In a job: ``should_stop`` is checked between the evaluations and bootstrap batches
    (raising :class:`~al_core.jobs.runner.Cancelled`), and ``on_commit`` (the job's
    :meth:`~al_core.jobs.runner.Reporter.commit`) runs inside the transaction that stores the
    comparison and applies it, so a cancel stores nothing and changes no active model.

    Team mode: a lead's work (``compare``, and ``decide`` with ``apply``), recorded under
    the acting user's name (``decided_by`` None stands for it; another name is
    PermissionDenied). Single-user mode: ``decided_by`` as given (default ``cli``)."""
    store.authorize("compare")
    if apply:
        store.authorize("decide")
    decided_by = store.own_name(decided_by, what="decided_by") or "cli"
    decided_by = normalize_name(decided_by, kind="person")  # before any work, not at the save
    old_id = store.active_model_id() if old_id is None else old_id
    if old_id is None:
        raise ValueError(nothing_to_compare(new_id))
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
        store.audit("model.compare", object_type="comparison", object_id=comparison_id,
                    summary=f"compared model #{new_id} with "
                            + (f"model #{old_id}" if old_id is not None else "no model")
                            + f": {decision.decision}"
                            + (", applied" if apply else ", not applied"),
                    before={"active_model": old_id if apply else None} if apply else None,
                    after={"decision": decision.decision, "applied": apply,
                           "new_map": new.map, "old_map": old.map if old else None})
    return decision


def nothing_to_compare(model_id: int) -> str:
    """The refusal of a comparison when no model is active and none was named."""
    return (f"no model is active, so model #{model_id} has nothing to compare with: a "
            "project's first model becomes active when its training ends; make this one "
            f"active as the first (`compare --new {model_id} --apply` on the command line, "
            "Make it active on the Compare page), or name a model to compare it with")


def predict_missing_test(store: Store, model_ids: Sequence[int | None], reporter, *,
                         share: float = 1.0) -> dict[int, int]:
    """Run each model that has a checkpoint on the test items it has not predicted yet,
    so it can be evaluated (external models keep their imported predictions; ``None``
    ids are skipped). ``reporter`` has ``progress(fraction, message)`` and
    ``cancel_requested()``, as a job's :class:`~al_core.jobs.runner.Reporter`; the predictions
    take the first ``share`` of its bar. Returns {model id: test images predicted now}.
    Torch loads only when there is something to predict."""
    test_ids, _ = store.test_set_identity()
    todo = {m: store.items_without_embedding(m, test_ids)
            for m in dict.fromkeys(m for m in model_ids if m is not None)
            if store.model(m)["checkpoint_path"]}
    todo = {m: ids for m, ids in todo.items() if ids}
    if todo:
        from al_core.training.prediction import predict_items  # loads torch

        for n, (model_id, missing) in enumerate(todo.items()):
            predict_items(store, model_id, missing, reporter=PartReporter(
                reporter.progress, reporter.cancel_requested, share * n / len(todo),
                share / len(todo), f"model #{model_id} on the test split"))
    return {m: len(ids) for m, ids in todo.items()}
