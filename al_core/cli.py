"""``python -m al_core``: the project's operations, headless. Thin: parse arguments,
call the library, print. Every subcommand has ``--help``."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sqlite3
import sys
import time
from dataclasses import asdict

from al_core.demo import DemoConfig, create_demo_project, label_from_oracle_at_random
from al_core import jobs
from al_core.compare import parse_compare_config
from al_core.evaluation import evaluate_coco, result_json
from al_core.export import PRELABEL_MIN_SCORE, export_coco, export_yolo
from al_core.images import DEFAULT_MAX_PIXELS
from al_core.io_coco import (ImportFailed, import_selection, import_source, read_import_source,
                             read_json)
from al_core.model_eval import compare_models, evaluate_model
from al_core.query import DEFAULT_RANDOM_CONTROL, QuerySpec, plan_query
from al_core.split import DEFAULT_DISTRIBUTION, parse_distribution, split_project
from al_core.strategies.registry import (COLD_START_STRATEGY, DEFAULT_OPTIONS, DEFAULT_STRATEGY,
                                         STRATEGIES)
from al_core.store import DB_NAME, ProjectError, Store
from al_core.types import SPLITS

MAX_PROBLEMS_SHOWN = 50


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last = ""

    def progress_line(self, fraction: float, message: str) -> None:
        filled = int(30 * fraction)
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {message}"
        if self.tty:
            sys.stderr.write("\r" + line[:120].ljust(120))
            sys.stderr.flush()
        elif message != self.last:
            print(line, file=sys.stderr)
        self.last = message

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\n")

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.tty:
            return
        filled = int(30 * done / max(total, 1))
        elapsed = time.monotonic() - self.start
        sys.stderr.write(f"\r{what:<18} [{'#' * filled}{'.' * (30 - filled)}] "
                         f"{done}/{total} {elapsed:5.1f}s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _cmd_demo(args) -> int:
    config = DemoConfig(n_images=args.images, test_size=args.test,
                        empty_share=args.empty_share, seed=args.seed)
    if (args.project / DB_NAME).exists():
        store = Store(args.project)
        if not store.has_oracle():
            raise ProjectError(f"{store.root} is a project without an oracle, not a demo")
        print(f"demo project {store.root} exists; not regenerating it")
    else:
        store = create_demo_project(args.project, config, progress=ProgressBar())
        print(f"created demo project {store.root}: {config.n_images} images, "
              f"{config.test_size} labeled from the oracle and frozen as test")
    if args.labeled:
        label_from_oracle_at_random(store, args.labeled, seed=args.seed)
        report = split_project(store, seed=args.seed)
        print(f"labeled {args.labeled} more items from the oracle; split them: "
              + ", ".join(f"{s} +{n}" for s, n in report.assigned.items() if n))
    return 0


def _cmd_import(args) -> int:
    if args.selection is not None:
        if args.coco is None or args.images is not None or args.predictions is not None:
            raise ValueError("--selection TAG takes only --coco FILE (the corrected batch; its "
                             "images are already in the project)")
        report = import_selection(Store(args.project), args.selection, args.coco)
    elif args.images is None:
        raise ValueError("--images FOLDER is required (or --selection TAG --coco FILE)")
    else:
        source = read_import_source(args.images, coco=args.coco, predictions=args.predictions)
        store = Store(args.project, create=True)  # only once the inputs are known usable
        report = import_source(store, source, model_name=args.model_name,
                               reference=args.reference, max_pixels=args.max_pixels,
                               progress=ProgressBar())
    for problem in report.problems[:None if args.verbose else MAX_PROBLEMS_SHOWN]:
        print(f"  - {problem}")
    hidden = len(report.problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0 and not args.verbose:
        print(f"  ... and {hidden} more (--verbose shows all)")
    print(report.summary())
    return 0


def _cmd_export(args) -> int:
    filters = {"split": args.split, "tag": args.tag}
    if args.selection is not None:
        if args.format != "coco":
            raise ValueError("--selection exports COCO (with pre-labels and scores) only; "
                             "use --format coco")
        filters = {"selection": args.selection, "min_score": args.min_score,
                   **{k: v for k, v in filters.items() if v is not None}}
    fn = export_coco if args.format == "coco" else export_yolo
    counts = fn(Store(args.project), args.out, **filters)
    print(f"wrote {args.out}: {counts['images']} images, {counts['annotations']} boxes, "
          f"{counts['categories']} categories")
    return 0


def _cmd_split(args) -> int:
    store = Store(args.project)
    report = split_project(store, distribution=parse_distribution(args.distribution),
                           seed=args.seed, resplit=args.resplit)
    print("assigned: " + ", ".join(f"{s} +{report.assigned[s]}" for s in SPLITS))
    print("totals:   " + ", ".join(f"{s} {report.totals[s]}" for s in SPLITS)
          + (" (test frozen)" if not args.resplit and report.totals["test"] else ""))
    return 0


def _cmd_status(args) -> int:
    status = Store(args.project).status()
    if args.json:
        print(json.dumps(asdict(status), indent=2))
        return 0
    pct = 100 * status.labeled / status.items if status.items else 0.0
    labeled = {s: status.by_split_status.get(s, {}).get("labeled", 0) for s in ("pool", *SPLITS)}
    print(f"items: {status.items}   labeled: {status.labeled} ({pct:.1f}%): "
          + ", ".join(f"{s} {labeled[s]}" for s in SPLITS) + f", unsplit {labeled['pool']}")
    print(f"{'split':<8}{'unlabeled':>10}{'labeled':>9}")
    for split in ("pool", *SPLITS):
        row = status.by_split_status.get(split, {})
        print(f"{split:<8}{row.get('unlabeled', 0):>10}{row.get('labeled', 0):>9}"
              + ("   (frozen)" if split == "test" and status.test_frozen else ""))
    print("boxes by class: " + (", ".join(f"{k} {v}" for k, v in status.boxes_by_class.items())
                                or "no classes yet"))
    print(f"active model: {status.active_model or 'none'}   models: {status.models}")
    print(f"rounds: {status.rounds}   selections: {len(status.selections) or 'none'}")
    for s in status.selections:
        model = f"model #{s.model_id}" if s.model_id is not None else "no model"
        print(f"  {s.tag:<20} round {s.round:<3} {s.strategy:<13} {model:<10} "
              f"{s.size} items ({s.control} random control), {s.labeled} labeled")
    return 0


def _print_evaluation(result, names: dict[int, str], iou: float, *, as_json: bool) -> None:
    """The ``--json`` object, or a per-class table, shared by eval-coco and evaluate."""
    if as_json:
        print(json.dumps(result_json(result, names)))
        return
    print(f"{'class':<24}{'AP':>8}{'gt boxes':>10}")
    for class_id, r in result.per_class.items():
        print(f"{names[class_id]:<24}{r.ap:>8.4f}{r.num_gt:>10}")
    print(f"mAP@{iou:g} over {len(result.per_class)} classes with ground truth: "
          f"{result.map:.4f}")


def _cmd_eval_coco(args) -> int:
    gt = read_json(args.gt, "ground-truth file")
    dt = read_json(args.dt, "detections file")
    result, names = evaluate_coco(gt, dt, iou_threshold=args.iou)
    _print_evaluation(result, names, args.iou, as_json=args.json)
    return 0


def _cmd_evaluate(args) -> int:
    store = Store(args.project)
    result, digest = evaluate_model(store, args.model, iou_threshold=args.iou)
    if not args.json:
        print(f"model #{args.model} on test set {digest}:")
    _print_evaluation(result, {c.id: c.name for c in store.classes()}, args.iou,
                      as_json=args.json)
    return 0


def _cmd_compare(args) -> int:
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


def _json_arg(text: str | None, what: str) -> dict:
    """A JSON object given inline or as a path to a file."""
    if not text:
        return {}
    from pathlib import Path

    data = read_json(text, what) if Path(text).is_file() else None
    if data is None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what}: neither a file nor valid JSON ({exc.msg} at column "
                             f"{exc.colno})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{what}: expected a JSON object, got {data!r}")
    return data


def _follow(store: Store, job_id: int) -> int:
    bar = ProgressBar()
    try:
        job = jobs.wait_for(store, job_id, on_progress=lambda j: bar.progress_line(
            j["progress"], j["message"] or j["status"]))
    except KeyboardInterrupt:
        jobs.cancel_job(store, job_id)
        print("\ncancelling...", file=sys.stderr)
        job = jobs.wait_for(store, job_id)
    bar.finish()
    print(f"job {job_id} {job['status']}" + (f": {job['error']}" if job["error"] else ""))
    return 0 if job["status"] == "succeeded" else 1


def _cmd_train(args) -> int:
    from al_core import registry  # noqa: F401 - torch loads only for these commands

    store = Store(args.project)
    unsplit = store.count_items(status="labeled", unsplit=True)
    print(f"training on {store.count_items(split='train')} images, validating on "
          f"{store.count_items(split='val')}; {unsplit} labeled images outside train/val"
          + (" are left out: run `python -m al_core split` first" if unsplit else ""),
          file=sys.stderr)
    model_id = registry.create_candidate(store, base_model_id=args.base,
                                         override=_json_arg(args.config, "--config"))
    job_id = jobs.start_job(store, "train", {"model_id": model_id})
    print(f"model #{model_id} training in job {job_id}")
    return 0 if args.background else _follow(store, job_id)


def _cmd_predict(args) -> int:
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
    return _follow(store, job_id)


def _cmd_query(args) -> int:
    store = Store(args.project)
    spec = QuerySpec(strategy=args.strategy, add=args.add, target=args.target,
                     random_control=args.random_control, seed=args.seed, tag=args.tag,
                     pool_tag=args.pool_tag, include_pending=args.include_pending,
                     options=_json_arg(args.config, "--config"))
    plan = plan_query(store, spec)  # mistakes fail here, before a job starts
    spec = dataclasses.replace(spec, tag=plan.tag)
    job_id = jobs.start_job(store, "query", asdict(spec))
    fallback = f" (no active model: {spec.strategy} needs one)" \
        if plan.strategy != spec.strategy else ""
    print(f"query {plan.tag}: {plan.batch} of {len(plan.pool)} pool items by {plan.strategy}"
          f"{fallback}, in job {job_id}")
    if args.background:
        return 0
    code = _follow(store, job_id)
    if code == 0:
        _print_selection(store, spec.tag)
    return code


def _print_selection(store: Store, tag: str) -> None:
    sel = store.selection(tag)
    note = f" ({sel.config['fallback']})" if "fallback" in sel.config else ""
    print(f"selection {sel.tag}, round {sel.round}: {len(sel.items)} items by {sel.strategy}"
          f"{note}, {len(sel.control_ids)} random control; "
          + (f"pre-labels from model #{sel.model_id}" if sel.model_id is not None
             else "no model, no pre-labels"))
    missed = sel.config.get("missed_objects") or []
    if missed:
        print(f"{len(missed)} picked images had no detection (possible missed objects)")
    for item in sel.items[:10]:
        score = "-" if item.score is None else f"{item.score:.4f}"
        print(f"  {item.rank:>4}  item {item.item_id:<7} score {score}"
              + ("  control" if item.is_control else "")
              + ("  no detection" if item.item_id in missed else ""))
    if len(sel.items) > 10:
        print(f"  ... {len(sel.items) - 10} more (export --selection {tag} lists all)")


def _cmd_jobs(args) -> int:
    store = Store(args.project)
    jobs.reap_stale(store)
    for job in store.jobs(limit=args.limit):
        print(f"{job['id']:>4}  {job['kind']:<8} {job['status']:<10} {job['progress']:>4.0%}  "
              f"{job['message'] or ''}" + (f"  [{job['error']}]" if job["error"] else ""))
    return 0


def _cmd_cancel(args) -> int:
    store = Store(args.project)
    status = jobs.cancel_job(store, args.job_id)
    print(f"job {args.job_id} ({status}): cancel requested")
    return 0


def _cmd_models(args) -> int:
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


def _cmd_simulate(args) -> int:
    from al_core import simulate as sim

    if bool(args.demo) == bool(args.images or args.coco):
        raise ValueError("give either --demo or both --images DIR and --coco ANN.json")
    if not args.demo and not (args.images and args.coco):
        raise ValueError("--images and --coco go together")
    quick = args.quick
    defaults = sim.QUICK_DEFAULTS if quick else sim.FULL_DEFAULTS
    train = dict(sim.QUICK_TRAIN if quick else sim.DEFAULT_TRAIN)
    train.update(_json_arg(args.train_config, "--train-config") or {})
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
        query=_json_arg(args.config, "--config") or {})
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


def _cmd_label(args) -> int:
    from al_core.review import label_selection_from_oracle

    if not args.from_oracle:
        raise ValueError("label needs --from-oracle (the demo's ground truth); people label "
                         "in the app's Review page or with import --selection TAG --coco FILE")
    with Store(args.project) as store:
        n = label_selection_from_oracle(store, args.selection, min_score=args.min_score)
        s = next(x for x in store.selections() if x.tag == args.selection)
        print(f"labeled {n} images of {args.selection} from the ground truth (author oracle); "
              f"{s.labeled} of {s.size} labeled; train {store.count_items(split='train')}, "
              f"val {store.count_items(split='val')}")
    return 0


def _cmd_run_job(args) -> int:
    from al_core import query, registry  # noqa: F401 - they register their job kinds

    status = jobs.run_job(Store(args.project), args.job)
    return 0 if status == "succeeded" else 1


def build_parser() -> argparse.ArgumentParser:
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m al_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, fn, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--project", type=Path, required=True, help="project directory")
        p.set_defaults(fn=fn)
        return p

    p = command("demo", _cmd_demo, "create the built-in handwritten-digits demo project")
    p.add_argument("--images", type=int, default=DemoConfig.n_images, help="scenes (default %(default)s)")
    p.add_argument("--test", type=int, default=DemoConfig.test_size,
                   help="scenes labeled from the oracle and frozen as test (default %(default)s)")
    p.add_argument("--empty-share", type=float, default=DemoConfig.empty_share,
                   help="share of scenes with no digit, like a raw pool's empty frames "
                        "(default %(default)s)")
    p.add_argument("--labeled", type=int, default=0,
                   help="also label N random pool items from the oracle and split them")
    p.add_argument("--seed", type=int, default=0)

    p = command("import", _cmd_import, "import a folder of images, optionally with COCO labels; "
                "or label a selection's items from a corrected COCO file")
    p.add_argument("--images", type=Path, help="folder of jpg/png/webp (recursive)")
    p.add_argument("--coco", type=Path, help="COCO instances JSON with the labels")
    p.add_argument("--selection", metavar="TAG",
                   help="label exactly this selection's items from --coco (matched by file "
                        "name); no --images")
    p.add_argument("--predictions", type=Path, help="COCO results JSON to keep as pre-labels")
    p.add_argument("--model-name", help="name of the model that made --predictions")
    p.add_argument("--reference", action="store_true",
                   help="leave the images where they are instead of copying them in")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="reject larger images (default %(default)s)")
    p.add_argument("--verbose", action="store_true", help="list every problem")

    p = command("export", _cmd_export, "export the current labels")
    p.add_argument("--format", choices=("coco", "yolo"), required=True)
    p.add_argument("--out", type=Path, required=True, help="JSON file (coco) or folder (yolo)")
    p.add_argument("--split", choices=SPLITS, help="only this split")
    p.add_argument("--tag", help="only labeled items with this tag (or selection)")
    p.add_argument("--selection", metavar="TAG", help="a selection's whole batch, labeled or "
                   "not, with the model's pre-labels (coco only)")
    p.add_argument("--min-score", type=float, default=PRELABEL_MIN_SCORE,
                   help="pre-labels from this score (default %(default)s)")

    p = command("query", _cmd_query, "pick the next batch to label with a strategy (plus a "
                "random control slice) and store it as a named selection")
    p.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=list(STRATEGIES),
                   help="default %(default)s; with no active model, strategies that need one "
                        f"use {COLD_START_STRATEGY}")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--add", type=int, help="items to pick")
    size.add_argument("--target", type=int, help="the labeled set's size (labeled items "
                      "outside test, plus items waiting in earlier selections) after this query")
    p.add_argument("--random-control", type=float, default=DEFAULT_RANDOM_CONTROL,
                   help="fraction of the batch drawn uniformly from the pool, marked as the "
                        "control (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", help="the selection's name (default al-iteration-ROUND)")
    p.add_argument("--pool-tag", help="only pool items carrying this tag")
    p.add_argument("--include-pending", action="store_true",
                   help="also consider unlabeled items waiting in earlier selections")
    p.add_argument("--config", help="JSON object (inline or a file) of strategy options: "
                   + ", ".join(f"{k} ({v})" for k, v in DEFAULT_OPTIONS.items()))
    p.add_argument("--background", action="store_true", help="start the job and return")

    p = command("label", _cmd_label, "label a selection's unlabeled images from the demo's "
                "hidden ground truth, as reviews by 'oracle' (the demo's stand-in for a person)")
    p.add_argument("--selection", metavar="TAG", required=True)
    p.add_argument("--from-oracle", action="store_true", required=True,
                   help="use the project's hidden ground truth (demo and simulation projects)")
    p.add_argument("--min-score", type=float, default=PRELABEL_MIN_SCORE,
                   help="the pre-labels a reviewer would see, to count the corrections "
                        "(default %(default)s)")

    p = command("split", _cmd_split, "assign labeled items to train/val/test")
    default = "/".join(str(round(100 * DEFAULT_DISTRIBUTION[s])) for s in SPLITS)
    p.add_argument("--distribution", default=default,
                   help="train/val/test as 80/10/10, 'equal', or train=0.7,val=0.2,test=0.1 "
                        "(default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resplit", action="store_true",
                   help="redraw every labeled item's split, the frozen test split included")

    p = command("status", _cmd_status, "counts by split and status, model, rounds")
    p.add_argument("--json", action="store_true")

    p = command("evaluate", _cmd_evaluate, "evaluate a model's stored predictions on the "
                "frozen test split (stored with the test set's identity)")
    p.add_argument("--model", type=int, required=True, help="model id")
    p.add_argument("--iou", type=float, default=0.5, help="IoU threshold (default %(default)s)")
    p.add_argument("--json", action="store_true", help="the same schema as eval-coco --json")

    p = command("compare", _cmd_compare, "compare a new model with the active (or --old) one "
                "on the frozen test split: update_model or discard")
    p.add_argument("--new", type=int, required=True, help="the candidate model id")
    p.add_argument("--old", type=int, help="the model to beat (default: the active model)")
    p.add_argument("--config", type=Path, required=True,
                   help="compare config JSON (Dataloop's format, see README)")
    p.add_argument("--apply", action="store_true",
                   help="carry the decision out: make the new model active, or discard it")

    p = command("train", _cmd_train, "Create New Model: clone the active (or --base) model's "
                "config, apply --config, train on the train split, validate on val")
    p.add_argument("--config", help="JSON object (inline or a file) overriding config keys: "
                                    "arch, width, image_size, epochs, batch_size, lr, "
                                    "weight_decay, time_budget_s, augment, repeat_threshold, "
                                    "ema_decay, seed, weights_path, warm_start (fine-tune "
                                    "the base model), device")
    p.add_argument("--base", type=int, help="model id whose config to clone (default: active)")
    p.add_argument("--background", action="store_true", help="start the job and return")

    p = command("predict", _cmd_predict, "store a model's predictions (score >= 0.05) and "
                "image embeddings")
    p.add_argument("--model", type=int, required=True)
    p.add_argument("--split", choices=("pool+test", "pool", "test", "all"), default="pool+test",
                   help="which items (default: the unlabeled pool and the test split)")

    p = command("jobs", _cmd_jobs, "recent jobs (a job whose process died is marked failed)")
    p.add_argument("--limit", type=int, default=20)

    p = command("cancel", _cmd_cancel, "ask a running job to stop")
    p.add_argument("job_id", type=int)

    p = command("models", _cmd_models, "the model registry")
    p.add_argument("--json", action="store_true",
                   help='a list of {"id", "status", "parent", "arch", "created"}')

    p = sub.add_parser("run-job", help=argparse.SUPPRESS)  # the job process itself
    p.add_argument("--project", type=Path, required=True)
    p.add_argument("--job", type=int, required=True)
    p.set_defaults(fn=_cmd_run_job)

    help_text = ("the whole loop headless with the ground truth as the oracle: label "
                 "efficiency of query strategies vs random (curves.json, curves.png)")
    p = sub.add_parser("simulate", help=help_text, description=help_text)
    p.add_argument("--demo", action="store_true", help="simulate on the built-in demo")
    p.add_argument("--images", type=Path, help="images folder (with --coco)")
    p.add_argument("--coco", type=Path, help="COCO instances JSON: the oracle's labels")
    p.add_argument("--demo-seed", type=int, help="with --demo: another draw of the demo's "
                   "scenes (default 0, the demo's own), e.g. to choose settings on one draw "
                   "and report on another")
    p.add_argument("--test-size", type=int,
                   help="with --coco: items frozen as the test split (default 300)")
    p.add_argument("--strategy", action="append", choices=list(STRATEGIES),
                   help="repeat for several (default: random, uncertainty, coreset, hybrid)")
    p.add_argument("--initial", type=int, help="labels of round 0, picked by the cold-start "
                   "strategy (the same for every strategy)")
    p.add_argument("--initial-strategy", choices=list(STRATEGIES),
                   help=f"round 0's strategy (default {COLD_START_STRATEGY})")
    p.add_argument("--add", type=int, help="labels added per round")
    p.add_argument("--rounds", type=int, help="query rounds after round 0")
    p.add_argument("--seeds", type=int, help="seeds per strategy")
    p.add_argument("--config", help="JSON object (inline or a file) of strategy options "
                   "for every query after round 0, as for query --config")
    p.add_argument("--train-config", help="JSON object overriding the training config of "
                   "every round (default epochs and sizes: see README)")
    p.add_argument("--min-train-images", type=int,
                   help="each round trains for at least this many images (default "
                        "4000; --quick 20)")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder; rerunning with the same one resumes")
    p.add_argument("--quick", action="store_true",
                   help="a small variant for tests: a 300-image demo and tiny training")
    p.set_defaults(fn=_cmd_simulate)

    help_text = ("per-class AP at one IoU threshold of a COCO results file against COCO "
                 "instances (equal to pycocotools)")
    p = sub.add_parser("eval-coco", help=help_text, description=help_text)
    p.add_argument("--gt", type=Path, required=True, help="COCO instances JSON")
    p.add_argument("--dt", type=Path, required=True,
                   help="COCO results JSON: a list of {image_id, category_id, bbox, score}")
    p.add_argument("--iou", type=float, default=0.5, help="IoU threshold (default %(default)s)")
    p.add_argument("--json", action="store_true",
                   help='print {"iou_threshold", "map", "per_class": {name: {"ap", "num_gt"}}}')
    p.set_defaults(fn=_cmd_eval_coco)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing half-written was kept", file=sys.stderr)
        return 130
    except KeyError as exc:  # str() of a KeyError quotes its message
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except (ProjectError, ImportFailed, ValueError, OSError, sqlite3.DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
