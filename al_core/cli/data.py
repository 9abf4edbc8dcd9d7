"""CLI commands on a project's data: demo, import, export, split, status, query, label."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict

from al_core.cli.console import (ProgressBar, acting_user, follow_job, json_arg,
                                 open_store)
from al_core.formats.coco_import import import_source, prelabel_model_name, read_import_source
from al_core.formats.export import export_coco, export_yolo
from al_core.jobs import runner as jobs
from al_core.names import printable
from al_core.query.round import QuerySpec, plan_query
from al_core.review.external import import_selection
from al_core.simulation.demo import create_demo_project, demo_config, label_from_oracle_at_random
from al_core.store import DB_NAME, ProjectError, Store
from al_core.training.split import parse_distribution, split_project
from al_core.types import SPLITS

MAX_PROBLEMS_SHOWN = 50


def cmd_demo(args) -> int:
    kind = args.kind or "digits"
    config = demo_config(kind, n_images=args.images, test_size=args.test,
                         empty_share=args.empty_share, seed=args.seed)
    if (args.project / DB_NAME).exists():
        store = open_store(args)
        if not store.has_oracle():
            raise ProjectError(f"{store.root} is a project without an oracle, not a demo")
        made_by = store.get_meta("demo_config") or ""
        if args.kind and made_by and not made_by.startswith(type(config).__name__ + "("):
            raise ProjectError(f"{store.root} holds another kind of demo than {args.kind} "
                               f"({made_by.split('(')[0]}); give a new --project")
        print(f"demo project {store.root} exists; not regenerating it")
    else:
        store = create_demo_project(args.project, config, progress=ProgressBar())
        store.act_as(acting_user(args))
        print(f"created {kind} demo project {store.root}: {config.n_images} images, "
              f"{config.test_size} labeled from the oracle and frozen as test")
    if args.labeled:
        label_from_oracle_at_random(store, args.labeled, seed=args.seed)
        report = split_project(store, seed=args.seed)
        print(f"labeled {args.labeled} more items from the oracle; split them: "
              + ", ".join(f"{s} +{n}" for s, n in report.assigned.items() if n))
    return 0


def cmd_import(args) -> int:
    if args.selection is not None:
        if args.coco is None or args.images is not None or args.predictions is not None \
                or args.replace_labels:
            raise ValueError("--selection TAG takes only --coco FILE (the corrected batch; its "
                             "images are already in the project) and --crowd-as-boxes")
        report = import_selection(open_store(args), args.selection, args.coco,
                                  crowd_as_boxes=args.crowd_as_boxes)
    elif args.images is None:
        raise ValueError("--images FOLDER is required (or --selection TAG --coco FILE)")
    else:
        source = read_import_source(args.images, coco=args.coco, predictions=args.predictions,
                                    max_pixels=args.max_pixels)
        prelabel_model_name(args.model_name, None)  # a bad --model-name: refused here too
        store = open_store(args, create=True)  # only once the inputs are known usable
        report = import_source(store, source, model_name=args.model_name,
                               reference=args.reference, max_pixels=args.max_pixels,
                               replace_labels=args.replace_labels,
                               crowd_as_boxes=args.crowd_as_boxes, progress=ProgressBar())
    lines = report.lines()  # what happened per image and record: problems, then notes
    for line in lines[:None if args.verbose else MAX_PROBLEMS_SHOWN]:
        print(f"  - {printable(line, None)}")
    hidden = len(lines) - MAX_PROBLEMS_SHOWN
    if hidden > 0 and not args.verbose:
        print(f"  ... and {hidden} more (--verbose shows all)")
    print(report.summary(options={"replace_labels": "--replace-labels",
                                  "crowd_as_boxes": "--crowd-as-boxes"}))
    return 0


def cmd_export(args) -> int:
    filters = {"split": args.split, "tag": args.tag}
    if args.selection is not None:
        if args.format != "coco":
            raise ValueError("--selection exports COCO (with pre-labels and scores) only; "
                             "use --format coco")
        filters = {"selection": args.selection, "min_score": args.min_score,
                   **{k: v for k, v in filters.items() if v is not None}}
    fn = export_coco if args.format == "coco" else export_yolo
    counts = fn(open_store(args), args.out,
                without_auto_accepted=args.without_auto_accepted, **filters)
    print(f"wrote {printable(args.out, None)}: {counts['images']} images, "
          f"{counts['annotations']} boxes, "
          f"{counts['categories']} categories")
    return 0


def cmd_split(args) -> int:
    store = open_store(args)
    report = split_project(store, distribution=parse_distribution(args.distribution),
                           seed=args.seed, resplit=args.resplit)
    print("assigned: " + ", ".join(f"{s} +{report.assigned[s]}" for s in SPLITS))
    print("totals:   " + ", ".join(f"{s} {report.totals[s]}" for s in SPLITS)
          + (" (test frozen)" if not args.resplit and report.totals["test"] else ""))
    return 0


def cmd_status(args) -> int:
    status = open_store(args).status()
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
    print("boxes by class: " + (", ".join(f"{printable(k)} {v}"
                                          for k, v in status.boxes_by_class.items())
                                or "no classes yet"))
    print(f"active model: {printable(status.active_model or 'none')}   "
          f"models: {status.models}")
    print(f"rounds: {status.rounds}   selections: {len(status.selections) or 'none'}")
    for s in status.selections:
        model = f"model #{s.model_id}" if s.model_id is not None else "no model"
        print(f"  {printable(s.tag):<20} round {s.round:<3} {s.strategy:<13} {model:<10} "
              f"{s.size} items ({s.control} random control), {s.labeled} labeled")
    return 0


def cmd_query(args) -> int:
    store = open_store(args)
    spec = QuerySpec(strategy=args.strategy, add=args.add, target=args.target,
                     random_control=args.random_control, seed=args.seed, tag=args.tag,
                     pool_tag=args.pool_tag, include_pending=args.include_pending,
                     options=json_arg(args.config, "--config"))
    plan = plan_query(store, spec)  # mistakes fail here, before a job starts
    spec = dataclasses.replace(spec, tag=plan.tag)
    job_id = jobs.start_job(store, "query", asdict(spec))
    fallback = f" (no active model: {spec.strategy} needs one)" \
        if plan.strategy != spec.strategy else ""
    print(f"query {printable(plan.tag)}: {plan.batch} of {len(plan.pool)} pool items by "
          f"{plan.strategy}"
          f"{fallback}, in job {job_id}")
    if args.background:
        return 0
    code = follow_job(store, job_id)
    if code == 0:
        print_selection(store, spec.tag)
    return code


def print_selection(store: Store, tag: str) -> None:
    sel = store.selection(tag)
    note = f" ({sel.config['fallback']})" if "fallback" in sel.config else ""
    print(f"selection {printable(sel.tag)}, round {sel.round}: {len(sel.items)} items by "
          f"{sel.strategy}"
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
        print(f"  ... {len(sel.items) - 10} more (export --selection {printable(tag)} lists "
              "all)")


def cmd_label(args) -> int:
    from al_core.review.save import label_selection_from_oracle

    if not args.from_oracle:
        raise ValueError("label needs --from-oracle (the demo's ground truth); people label "
                         "in the app's Review page or with import --selection TAG --coco FILE")
    with open_store(args) as store:
        n = label_selection_from_oracle(store, args.selection, min_score=args.min_score)
        s = next(x for x in store.selections() if x.tag == args.selection)
        print(f"labeled {n} images of {printable(args.selection)} from the ground truth "
              "(author oracle); "
              f"{s.labeled} of {s.size} labeled; train {store.count_items(split='train')}, "
              f"val {store.count_items(split='val')}")
    return 0
