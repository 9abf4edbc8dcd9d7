"""CLI commands on models and jobs: train, predict, evaluate, eval-coco, compare, models,
jobs, cancel (and run-job, the job process itself)."""
from __future__ import annotations

import getpass
import json
import sys

from al_core.cli.console import ConsoleReporter, follow_job, json_arg, open_store
from al_core.decide.compare import parse_compare_config
from al_core.decide.promotion import make_first_active
from al_core.decide.comparison import compare_models, nothing_to_compare, predict_missing_test
from al_core.decide.comparison_report import difference_sentence, interval_warning
from al_core.decide.retrain import (check_trainable_split, labels_waiting_for_review,
                                    waiting_sentence)
from al_core.evaluation.metrics import degenerate_ground_truth, evaluate_coco, result_json
from al_core.evaluation.model_eval import evaluate_model
from al_core.formats.coco_import import read_json
from al_core.jobs import runner as jobs
from al_core.names import printable
from al_core.store import Store
from al_core.store.decisions import FIRST_MODEL_WHY
from al_core.training.candidates import create_candidate
from al_core.training.data_fit import describe_fit

MAX_WARNINGS_SHOWN = 20


def print_evaluation(result, names: dict, iou: float, *, as_json: bool) -> None:
    """The ``--json`` object, or a per-class table, shared by eval-coco and evaluate."""
    if as_json:
        print(json.dumps(result_json(result, names)))
        return
    print(f"{'class':<24}{'AP':>8}{'gt boxes':>10}")
    for class_id, r in result.per_class.items():
        print(f"{printable(names[class_id]):<24}{r.ap:>8.4f}{r.num_gt:>10}")
    print(f"mAP@{iou:g} over {len(result.per_class)} classes with ground truth: "
          f"{result.map:.4f}")


def cmd_eval_coco(args) -> int:
    gt = read_json(args.gt, "ground-truth file")
    dt = read_json(args.dt, "detections file")
    result, names = evaluate_coco(gt, dt, iou_threshold=args.iou)
    degenerate = degenerate_ground_truth(gt)  # scored as pycocotools does, but said
    for line in degenerate[:MAX_WARNINGS_SHOWN]:
        print(f"warning: ground truth {line}", file=sys.stderr)
    if len(degenerate) > MAX_WARNINGS_SHOWN:
        print(f"warning: and {len(degenerate) - MAX_WARNINGS_SHOWN} more ground-truth boxes "
              "with zero or negative width or height", file=sys.stderr)
    print_evaluation(result, names, args.iou, as_json=args.json)
    return 0


def predict_test_first(store: Store, model_ids: list[int | None], *, out) -> None:
    """Run the models on the test images they have not predicted yet (progress on
    stderr), and say on ``out`` what was stored."""
    reporter = ConsoleReporter()
    predicted = predict_missing_test(store, model_ids, reporter)
    if predicted:
        reporter.bar.finish()
    for model_id, n in predicted.items():
        print(f"stored model #{model_id}'s predictions on the {n} test images it had not "
              "predicted", file=out)


def cmd_evaluate(args) -> int:
    store = open_store(args)
    store.model(args.model)  # a clear error for an unknown id, before any work
    store.authorize("evaluate")  # before predicting: evaluate_model checks it again
    predict_test_first(store, [args.model], out=sys.stderr if args.json else sys.stdout)
    result, digest = evaluate_model(store, args.model, iou_threshold=args.iou)
    if not args.json:
        print(f"model #{args.model} on test set {digest}:")
    print_evaluation(result, {c.id: c.name for c in store.classes()}, args.iou,
                     as_json=args.json)
    return 0


def cmd_compare(args) -> int:
    from al_core.decide.compare import describe_rule
    from al_core.decide.promotion import project_compare_config

    store = open_store(args)
    raw = json_arg(args.config, "compare config") if args.config else \
        project_compare_config(store)
    config = parse_compare_config(raw)
    print(describe_rule(config), file=sys.stderr)
    old = store.active_model_id() if args.old is None else args.old
    for model_id in (args.new, old):
        if model_id is not None:
            store.model(model_id)  # a clear error for an unknown id, before any work
    decided_by = None if store.team_mode() else f"cli ({printable(getpass.getuser(), 40)})"
    if old is None:  # no model active: nothing to compare with
        if not args.apply:
            raise ValueError(nothing_to_compare(args.new))
        return _make_first_active(store, args.new, decided_by)
    store.authorize("compare")  # before predicting: compare_models checks it again
    if args.apply:
        store.authorize("decide")
    predict_test_first(store, [args.new, old], out=sys.stderr)
    decision = compare_models(store, args.new, args.old, config, raw_config=raw,
                              apply=args.apply, decided_by=decided_by)
    names = {c.id: c.name for c in store.classes()}
    outcome = "not applied (--apply carries it out)"
    if args.apply:
        outcome = (f"applied: model #{args.new} is now the active model"
                   if decision.decision == "update_model" else
                   f"applied: model #{args.new} is marked discarded")
    print(f"stored the comparison of model #{args.new} with model #{old}: "
          f"{decision.decision}, {outcome}", file=sys.stderr)
    print(difference_sentence(args.new, old, decision.map_delta, decision.delta_interval,
                              iou=config.iou_threshold), file=sys.stderr)
    if warning := interval_warning(decision.delta_interval):
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps({
        "decision": decision.decision, "reason": decision.reason, "applied": args.apply,
        "active_model": store.active_model_id(),
        "map_delta": decision.map_delta, "confidence": decision.confidence,
        "delta_interval": decision.delta_interval,
        "per_class": {names[c.class_id]: {"new_ap": c.new_ap, "old_ap": c.old_ap, "won": c.won}
                      for c in decision.per_class}}, indent=2))
    return 0


def _make_first_active(store: Store, model_id: int, decided_by: str | None) -> int:
    """``compare --new ID --apply`` with no model active: the model becomes active as
    the project's first, with no comparison (there is nothing to compare it with)."""
    make_first_active(store, model_id, decided_by=decided_by)
    print(f"no model was active: model #{model_id} is now the active model, as the "
          "project's first (nothing to compare it with, no comparison stored)",
          file=sys.stderr)
    print(json.dumps({"decision": "update_model", "reason": FIRST_MODEL_WHY, "applied": True,
                      "active_model": store.active_model_id(), "first_model": True,
                      "map_delta": None, "confidence": None, "delta_interval": None,
                      "per_class": {}}, indent=2))
    return 0


def cmd_train(args) -> int:
    override = json_arg(args.config, "--config")  # refused before anything is said or loaded
    store = open_store(args)
    store.authorize("train")  # before the split's counts: create_candidate checks it again
    check_trainable_split(store)  # nothing to train on: the job would only find out later
    # what the training loads: labels waiting for review are left out (team mode)
    unsplit = store.count_items(status="labeled", unsplit=True, trainable=True)
    print(f"training on {store.count_items(split='train', trainable=True)} images, "
          f"validating on {store.count_items(split='val', trainable=True)}; {unsplit} "
          "labeled images outside train/val"
          + (" are left out: run `python -m al_core split` first" if unsplit else ""),
          file=sys.stderr)
    waiting = labels_waiting_for_review(store)
    if waiting:
        print(f"{waiting_sentence(waiting)}, so this training leaves them out",
              file=sys.stderr)
    model_id = create_candidate(store, base_model_id=args.base, override=override)
    for line in describe_fit(store.model(model_id)["metrics"].get("data_fit")):
        print(line, file=sys.stderr)
    first = store.active_model_id() is None  # it becomes active when its training ends
    job_id = jobs.start_job(store, "train", {"model_id": model_id, "decided_by": None if
                                             store.team_mode() else
                                             f"cli ({printable(getpass.getuser(), 40)})"})
    ahead = jobs.job_ahead(store, job_id)
    print(f"model #{model_id} training in job {job_id}" + (
        f" (it starts when job {ahead['id']} ({ahead['kind']}) ends: one training at a "
        "time)" if ahead else "") + ("; no model is active, so it becomes the active model "
                                     "when its training ends" if first and not ahead else ""))
    if args.background:
        return 0
    code = follow_job(store, job_id)
    if code == 0:
        metrics = store.model(model_id)["metrics"]
        val = metrics.get("val_map50")
        pseudo = metrics.get("pseudo_labeled_images") or 0
        print(f"model #{model_id} trained: val mAP50 "
              f"{'-' if val is None else f'{val:.3f}'} at epoch {metrics.get('best_epoch')} "
              f"of {metrics.get('epochs_run')}, on {metrics.get('train_images')} labeled "
              "train images" + (f" and {pseudo} pseudo-labeled pool images" if pseudo else "")
              + ("; the active model now, as the project's first (there was no active "
                 "model to compare it with)" if store.active_model_id() == model_id else
                 f"; not active yet: `compare --new {model_id}` decides whether it replaces "
                 "the active model"))
        if metrics.get("warning"):
            print(f"warning: {metrics['warning']}", file=sys.stderr)
    return code


def cmd_predict(args) -> int:
    from al_core.training.prediction import PREDICT_SCORE_THRESHOLD  # torch loads only here

    store = open_store(args)
    store.model(args.model)
    filters = {"pool": {"unsplit": True, "status": "unlabeled"}, "test": {"split": "test"},
               "all": {}}
    ids = [] if args.split != "pool+test" else [
        i.id for i in store.items(**filters["pool"])] + [i.id for i in store.items(split="test")]
    ids = ids or [i.id for i in store.items(**filters[args.split])]
    job_id = jobs.start_job(store, "predict", {"model_id": args.model, "item_ids": ids})
    print(f"predicting {len(ids)} images with model #{args.model} in job {job_id}")
    code = follow_job(store, job_id)
    if code == 0:
        print(f"stored model #{args.model}'s predictions on {len(ids)} images: "
              f"{len(store.predictions(args.model, ids))} boxes (score >= "
              f"{PREDICT_SCORE_THRESHOLD})")
    return code


def cmd_jobs(args) -> int:
    store = open_store(args)
    jobs.reap_stale(store)
    for job in store.jobs(limit=args.limit):
        print(f"{job['id']:>4}  {job['kind']:<8} {job['status']:<10} {job['progress']:>4.0%}  "
              f"{printable(job['message'] or '', None)}"  # they may quote names
              + (f"  [{printable(job['error'], None)}]" if job["error"] else ""))
    return 0


def cmd_cancel(args) -> int:
    store = open_store(args)
    status = jobs.cancel_job(store, args.job_id)
    print(f"job {args.job_id} was queued: cancelled; it will not start" if status == "queued"
          else f"job {args.job_id} ({status}): cancel requested; it stops at its next check")
    return 0


def cmd_models(args) -> int:
    store = open_store(args)
    jobs.reap_stale(store)
    rows = [{"id": m["id"], "status": m["status"], "parent": m["parent_id"], "arch": m["arch"],
             "created": m["created"]} for m in store.models()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for m, row in zip(store.models(), rows):
        val = m["metrics"].get("val_map50")
        print(f"#{row['id']:<4} {row['status']:<10} {row['arch']:<34} parent "
              f"{row['parent'] or '-':<4} val mAP50 {'-' if val is None else f'{val:.3f}'}  "
              f"{row['created']}")
    return 0


def cmd_run_job(args) -> int:
    from al_core.cli import job_kinds  # noqa: F401 - registers every job kind (loads torch)

    status = jobs.run_job(Store(args.project), args.job)
    return 0 if status == "succeeded" else 1
