"""Pre-label threshold (issue 29, item 4): the corrections a review needs per round when
the Review page shows each model's pre-labels at the threshold chosen for it on its
validation images (al_core/review/prelabel_threshold.py), against the fixed 0.3.

    .venv/bin/python benchmarks/prelabel_threshold.py --out data/prelabel-threshold

Runs ``simulate --prelabel-threshold model`` on the digits demo (100 initial labels, 3
rounds of 75) and the shapes demo (200, 3 rounds of 150), the default strategy, the
demos' own draws, side by side with the allowed CPUs split between them (log in
``OUT/<kind>.log``). Every round after round 0 is counted twice against the same
selecting model's pre-labels, so the comparison is paired: same models, same
selections, only the threshold differs (the oracle's labels, and so the training, do
not depend on it). Prints per round: the model-wide threshold chosen (and how many
classes got their own), the corrections (boxes added, deleted, moved below IoU 0.75,
relabeled) at it and at 0.3, and the estimated annotator seconds of both (the published
constants, al_core/review/effort.py). Each round trains on at least 2000 images (half
``simulate``'s 4000, to keep the run to minutes: the models are those of a smaller
budget, the pairing holds); ``--min-train-images`` sets it, ``--seeds`` runs more seeds
(a row each). Folders are resumed when rerun.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from label_efficiency import _pin  # noqa: E402

from al_core.query.strategies import DEFAULT_STRATEGY  # noqa: E402
from al_core.review.effort import counts_from_dict, published_model  # noqa: E402
from al_core.store import Store  # noqa: E402

SETTINGS = {"digits": (100, 75, 3), "shapes": (200, 150, 3)}  # (initial, add, rounds)


def _command(kind: str, out: Path, args) -> list[str]:
    initial, add, rounds = SETTINGS[kind]
    return [sys.executable, "-m", "al_core", "simulate", "--demo", "--demo-kind", kind,
            "--seeds", str(args.seeds), "--initial", str(initial), "--add", str(add),
            "--rounds", str(rounds), "--strategy", DEFAULT_STRATEGY,
            "--prelabel-threshold", "model", "--out", str(out),
            "--min-train-images", str(args.min_train_images)]


def round_rows(run: Path, rounds: int) -> list[dict]:
    """Per round after round 0 of one run project: the threshold chosen, and the
    corrections and estimated seconds at it and at the fixed 0.3 (``simulate``'s
    ``sim-cost-round-<r>`` meta)."""
    model = published_model()
    rows = []
    with Store(run) as store:
        for r in range(1, rounds + 1):
            c = json.loads(store.get_meta(f"sim-cost-round-{r}") or "null")
            if c is None or "fixed" not in c:
                raise SystemExit(f"{run}: round {r} was not counted at the model's threshold")
            t = c["threshold"] or {}
            rows.append({
                "round": r, "images": c["images"], "boxes": c["boxes"],
                "threshold": t.get("threshold"), "own": len(t.get("per_class", {})),
                "chosen": c["corrections"], "fixed": c["fixed"]["corrections"],
                "chosen_changes": c["changes"], "fixed_changes": c["fixed"]["changes"],
                "chosen_s": model.seconds(counts_from_dict(c["changes"]), c["images"]),
                "fixed_s": model.seconds(counts_from_dict(c["fixed"]["changes"]), c["images"])})
    return rows


def table(kind: str, out: Path, seeds: int) -> str:
    rounds = SETTINGS[kind][2]
    lines = [f"{kind} ({out})", "",
             "| seed | round | images | true boxes | threshold chosen (classes with their own) "
             "| corrections at it | at 0.3 | change | added / deleted at it | at 0.3 "
             "| est. hours at it | at 0.3 |", "|---" * 12 + "|"]
    total = {"chosen": 0, "fixed": 0, "chosen_s": 0.0, "fixed_s": 0.0}
    for seed in range(seeds):
        for row in round_rows(out / "runs" / DEFAULT_STRATEGY / f"seed-{seed}", rounds):
            for k in total:
                total[k] += row[k]
            t = "-" if row["threshold"] is None else f"{row['threshold']:.2f} ({row['own']})"
            a, f = row["chosen_changes"], row["fixed_changes"]
            lines.append(
                f"| {seed} | {row['round']} | {row['images']} | {row['boxes']} | {t} "
                f"| {row['chosen']} | {row['fixed']} "
                f"| {(row['chosen'] - row['fixed']) / max(row['fixed'], 1):+.0%} "
                f"| {a['added']} / {a['deleted']} | {f['added']} / {f['deleted']} "
                f"| {row['chosen_s'] / 3600:.2f} | {row['fixed_s'] / 3600:.2f} |")
    lines.append(f"| all | | | | | {total['chosen']} | {total['fixed']} "
                 f"| {(total['chosen'] - total['fixed']) / max(total['fixed'], 1):+.0%} | | "
                 f"| {total['chosen_s'] / 3600:.2f} | {total['fixed_s'] / 3600:.2f} |")
    return "\n".join(lines)


def recount(sim: Path, scratch: Path) -> str:
    """The same comparison on a finished ``simulate`` folder's runs (every strategy and
    seed), made without the flag: each round's selection counted against the selecting
    model's pre-labels at 0.3 and at the threshold chosen for that model on the
    validation images of its time (those labeled by its round), which it predicts first.
    The run projects are read from copies under ``scratch`` (their databases copied,
    images and models linked): the simulation's folder is not written."""
    import shutil

    from al_core.review.auto_accept import unpredicted_by
    from al_core.review.corrections import prelabel_corrections, summed_changes
    from al_core.review.prelabel_threshold import prelabel_threshold
    from al_core.simulation.simulate import _model_name, _round_tag
    from al_core.training.prediction import predict_items

    model = published_model()
    lines = [f"{sim} (recounted)", "",
             "| strategy | seed | corrections per round at the chosen threshold | at 0.3 "
             "| thresholds chosen | est. hours at it | at 0.3 |", "|---" * 7 + "|"]
    totals = {"chosen": 0, "fixed": 0, "chosen_s": 0.0, "fixed_s": 0.0}
    for run in sorted((sim / "runs").glob("*/seed-*")):
        strategy, seed = run.parent.name, int(run.name.split("-")[1])
        copy = scratch / sim.name / strategy / run.name
        if not (copy / "project.db").exists():
            copy.mkdir(parents=True, exist_ok=True)
            for name in ("images", "models"):
                if not (copy / name).exists():
                    (copy / name).symlink_to((run / name).resolve())
            shutil.copy2(run / "project.db", copy / "project.db.partial")
            (copy / "project.db.partial").rename(copy / "project.db")
        chosen, fixed, cuts, secs = [], [], [], [0.0, 0.0]
        with Store(copy) as store:
            tags = {t.tag for t in store.selections()}
            models = {m["name"]: m["id"] for m in store.models()}
            val_now, _ = store.split_identity("val")
            first_round = {i: min((a.round or 0) for a in boxes) for i, boxes in
                           store.annotations(val_now).items() if boxes}
            r = 1
            while _round_tag(r) in tags and _model_name(strategy, seed, r - 1) in models:
                model_id = models[_model_name(strategy, seed, r - 1)]
                val_ids = [i for i in val_now if first_round.get(i, 0) <= r - 1]
                missing = unpredicted_by(store, model_id, val_ids)
                if missing:
                    predict_items(store, model_id, missing)
                t = prelabel_threshold(store, model_id, val_ids=val_ids)
                ids = [i.item_id for i in store.selection(_round_tag(r)).items]
                truth = store.oracle_boxes(ids)
                rows: dict[int, list[dict]] = {i: [] for i in ids}
                for row in store.predictions(model_id, ids):
                    rows[row["item_id"]].append(row)
                at = summed_changes(prelabel_corrections(rows[i], truth[i],
                                                         min_score=t.min_score()) for i in ids)
                at_fixed = summed_changes(prelabel_corrections(rows[i], truth[i],
                                                               min_score=0.3) for i in ids)
                chosen.append(at.corrections)
                fixed.append(at_fixed.corrections)
                cuts.append(f"{t.threshold:.2f}" + (f"+{len(t.per_class)}" if t.per_class
                                                     else "") + ("" if t.chosen else "*"))
                secs[0] += model.seconds(at, len(ids))
                secs[1] += model.seconds(at_fixed, len(ids))
                r += 1
        totals["chosen"] += sum(chosen)
        totals["fixed"] += sum(fixed)
        totals["chosen_s"] += secs[0]
        totals["fixed_s"] += secs[1]
        lines.append(f"| {strategy} | {seed} | {' / '.join(map(str, chosen))} "
                     f"| {' / '.join(map(str, fixed))} | {' '.join(cuts)} "
                     f"| {secs[0] / 3600:.2f} | {secs[1] / 3600:.2f} |")
    lines.append(f"| all | | {totals['chosen']} | {totals['fixed']} "
                 f"({(totals['chosen'] - totals['fixed']) / max(totals['fixed'], 1):+.0%} at "
                 f"the chosen) | | {totals['chosen_s'] / 3600:.2f} "
                 f"| {totals['fixed_s'] / 3600:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for both simulations")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--min-train-images", type=int, default=2000,
                        help="each round's training budget (simulate's default: 4000)")
    parser.add_argument("--kind", action="append", choices=list(SETTINGS),
                        help="only this dataset (repeat; default both)")
    parser.add_argument("--recount", type=Path, action="append",
                        help="instead: recount a finished simulate folder's runs (repeat)")
    args = parser.parse_args()
    if args.recount:
        start = time.monotonic()
        for sim in args.recount:
            print(recount(sim, args.out), "\n", flush=True)
        print(f"recounted in {(time.monotonic() - start) / 60:.1f} min")
        return 0
    kinds = args.kind or list(SETTINGS)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    share = len(cpus) // len(kinds) if len(kinds) > 1 else 0
    running = {}
    for k, kind in enumerate(kinds):  # side by side, the allowed CPUs split between them
        mine = cpus[k * share:(k + 1) * share] if share else []
        log = open(args.out / f"{kind}.log", "a")
        print(f"{kind}: simulating into {args.out / kind} (log {log.name})", flush=True)
        running[kind] = (log, subprocess.Popen(
            _command(kind, args.out / kind, args), stdout=log, stderr=subprocess.STDOUT,
            cwd=ROOT, preexec_fn=_pin(mine)))
    failed = False
    for kind, (log, process) in running.items():
        code = process.wait()
        log.close()
        if code:
            print(f"{kind}: simulate failed (exit {code}); see {log.name}")
            failed = True
            continue
        print(table(kind, args.out / kind, args.seeds), "\n", flush=True)
    print(f"both: {(time.monotonic() - start) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
