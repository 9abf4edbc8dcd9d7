"""CLI commands on models and jobs: train, predict, evaluate, eval-coco, compare, models,
simulate, jobs, cancel (and run-job, the job process itself)."""
from __future__ import annotations

import json
import sys
import time

from al_core import jobs
from al_core.cli_console import follow_job, json_arg
from al_core.compare import parse_compare_config
from al_core.evaluation import evaluate_coco, result_json
from al_core.io_coco import read_json
from al_core.model_eval import compare_models, evaluate_model
from al_core.store import Store


def print_evaluation(result, names: dict[int, str], iou: float, *, as_json: bool) -> None:
    """The ``--json`` object, or a per-class table, shared by eval-coco and evaluate."""
    if as_json:
        print(json.dumps(result_json(result, names)))
        return
    print(f"{'class':<24}{'AP':>8}{'gt boxes':>10}")
    for class_id, r in result.per_class.items():
        print(f"{names[class_id]:<24}{r.ap:>8.4f}{r.num_gt:>10}")
    print(f"mAP@{iou:g} over {len(result.per_class)} classes with ground truth: "
          f"{result.map:.4f}")


def cmd_eval_coco(args) -> int:
    gt = read_json(args.gt, "ground-truth file")
    dt = read_json(args.dt, "detections file")
    result, names = evaluate_coco(gt, dt, iou_threshold=args.iou)
    print_evaluation(result, names, args.iou, as_json=args.json)
    return 0


def cmd_evaluate(args) -> int:
    store = Store(args.project)
    result, digest = evaluate_model(store, args.model, iou_threshold=args.iou)
    if not args.json:
        print(f"model #{args.model} on test set {digest}:")
    print_evaluation(result, {c.id: c.name for c in store.classes()}, args.iou,
                     as_json=args.json)
    return 0


def cmd_compare(args) -> int:
    raw = read_json(args.config, "compare config")
    config = parse_compare_config(raw)
    store = Store(args.project)
    decision = compare_models(store, args.new, args.old, config, raw_config=raw,
                              apply=args.apply)
    names = {c.id: c.name for c in store.classes()}
    print(json.dumps({
        "decision": decision.decision, "reason": decision.reason, "applied": args.apply,
        "map_delta": decision.map_delta, "confidence": decision.confidence,
        "delta_interval": decision.delta_interval,
        "per_class": {names[c.class_id]: {"new_ap": c.new_ap, "old_ap": c.old_ap, "won": c.won}
                      for c in decision.per_class}}, indent=2))
    return 0


def cmd_train(args) -> int:
    from al_core import registry  # noqa: F401 - torch loads only for these commands

    store = Store(args.project)
    unsplit = store.count_items(status="labeled", unsplit=True)
    print(f"training on {store.count_items(split='train')} images, validating on "
          f"{store.count_items(split='val')}; {unsplit} labeled images outside train/val"
          + (" are left out: run `python -m al_core split` first" if unsplit else ""),
          file=sys.stderr)
    model_id = registry.create_candidate(store, base_model_id=args.base,
                                         override=json_arg(args.config, "--config"))
    job_id = jobs.start_job(store, "train", {"model_id": model_id})
    print(f"model #{model_id} training in job {job_id}")
    return 0 if args.background else follow_job(store, job_id)


def cmd_predict(args) -> int:
    from al_core import registry  # noqa: F401 - torch loads only for these commands

    store = Store(args.project)
    store.model(args.model)
    filters = {"pool": {"unsplit": True, "status": "unlabeled"}, "test": {"split": "test"},
               "all": {}}
    ids = [] if args.split != "pool+test" else [
        i.id for i in store.items(**filters["pool"])] + [i.id for i in store.items(split="test")]
    ids = ids or [i.id for i in store.items(**filters[args.split])]
    job_id = jobs.start_job(store, "predict", {"model_id": args.model, "item_ids": ids})
    print(f"predicting {len(ids)} images with model #{args.model} in job {job_id}")
    return follow_job(store, job_id)


def cmd_jobs(args) -> int:
    store = Store(args.project)
    jobs.reap_stale(store)
    for job in store.jobs(limit=args.limit):
        print(f"{job['id']:>4}  {job['kind']:<8} {job['status']:<10} {job['progress']:>4.0%}  "
              f"{job['message'] or ''}" + (f"  [{job['error']}]" if job["error"] else ""))
    return 0


def cmd_cancel(args) -> int:
    store = Store(args.project)
    status = jobs.cancel_job(store, args.job_id)
    print(f"job {args.job_id} ({status}): cancel requested")
    return 0


def cmd_models(args) -> int:
    store = Store(args.project)
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


def cmd_simulate(args) -> int:
    from al_core import simulate as sim

    if bool(args.demo) == bool(args.images or args.coco):
        raise ValueError("give either --demo or both --images DIR and --coco ANN.json")
    if not args.demo and not (args.images and args.coco):
        raise ValueError("--images and --coco go together")
    quick = args.quick
    defaults = sim.QUICK_DEFAULTS if quick else sim.FULL_DEFAULTS
    train = dict(sim.QUICK_TRAIN if quick else sim.DEFAULT_TRAIN)
    train.update(json_arg(args.train_config, "--train-config") or {})
    if args.demo and args.test_size is not None:
        raise ValueError("--test-size goes with --coco; the demo's test split is fixed "
                         "(300 images; 80 with --quick)")

    def given(value, default):  # 0 is a value (refused by SimConfig), not "use the default"
        return default if value is None else value

    config = sim.SimConfig(
        strategies=tuple(args.strategy or defaults["strategies"]),
        initial=given(args.initial, defaults["initial"]), add=given(args.add, defaults["add"]),
        rounds=given(args.rounds, defaults["rounds"]),
        seeds=given(args.seeds, defaults["seeds"]), train=train,
        initial_strategy=args.initial_strategy,
        min_train_images=given(args.min_train_images,
                               20 if quick else sim.DEFAULT_MIN_TRAIN_IMAGES),
        query=json_arg(args.config, "--config") or {})
    if not args.demo and args.demo_seed is not None:
        raise ValueError("--demo-seed goes with --demo")
    source = sim.Source(demo=bool(args.demo), quick=quick, images=args.images, coco=args.coco,
                        test_size=given(args.test_size, 300),
                        demo_seed=given(args.demo_seed, 0))
    start = time.monotonic()
    curves = sim.simulate(args.out, source, config,
                          say=lambda line: print(line, file=sys.stderr, flush=True))
    summary = sim.summarize(curves)
    print(sim.format_table(summary))
    print(f"\n{args.out / 'curves.json'}, {args.out / 'curves.png'}, "
          f"{args.out / 'summary.json'} ({(time.monotonic() - start) / 60:.1f} min)")
    return 0


def cmd_run_job(args) -> int:
    from al_core import query, registry  # noqa: F401 - they register their job kinds

    status = jobs.run_job(Store(args.project), args.job)
    return 0 if status == "succeeded" else 1
