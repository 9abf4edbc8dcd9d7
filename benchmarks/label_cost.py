"""What each strategy's labels cost to reach random's final test mAP50, in the four
units annotators pay: labeled images, the true boxes in them, the corrections their
review needed against the selecting model's pre-labels (al_core/review/corrections.py),
and the annotator time those reviews would take, estimated with the published-constant
cost model (al_core/review/effort.py; shown in hours, kept boxes' checks included).

    .venv/bin/python benchmarks/label_cost.py data/sim-demo [data/sim-other ...]

For each simulation folder (``simulate --out``): per strategy and unit, the cost at
which the mean curve over seeds first reaches random's final mean mAP50, as a share of
what random spent, and the spread of that share over the seeds (each seed's own
curve against the same target). Folders simulated before corrections were counted
have no boxes or corrections in curves.json: their boxes are counted from the run
projects, their corrections are reported as "-"; folders simulated before seconds were
estimated report their seconds as "-".
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from al_core.simulation.results import UNITS, has_unit, labels_to_reach, mean_curve  # noqa: E402
from al_core.simulation.simulate import _round_tag  # noqa: E402
from al_core.store import Store  # noqa: E402


def _boxes_from_runs(out: Path, curves: dict) -> None:
    """Fill ``boxes`` into the points of a simulation made before they were recorded,
    from each run's project (its rounds' selections and their labels)."""
    for name, strategy in curves["strategies"].items():
        for seed, points in strategy["seeds"].items():
            with Store(out / "runs" / name / f"seed-{seed}") as store:
                tags = {s.tag for s in store.selections()}
                total = 0
                for r, point in enumerate(points):
                    if _round_tag(r) not in tags:
                        break
                    ids = [i.item_id for i in store.selection(_round_tag(r)).items]
                    total += sum(len(a) for a in store.annotations(ids).values())
                    point.setdefault("boxes", total)


def _share(cost: np.ndarray, curve: np.ndarray, target: float, spent: float) -> float | None:
    needed = labels_to_reach(cost, curve, target)
    return None if needed is None else needed / spent


def _amount(cost: float, unit: str) -> str:
    return f"{cost / 3600:,.1f} h" if unit == "seconds" else f"{cost:,.0f}"


def cost_table(out: Path) -> str:
    curves = json.loads((out / "curves.json").read_text())
    strategies = {n: s for n, s in curves["strategies"].items() if s["seeds"]}
    if "random" not in strategies:
        raise SystemExit(f"{out}: no random strategy to compare with")
    if not has_unit(strategies["random"], "boxes"):
        _boxes_from_runs(out, curves)
    ref = strategies["random"]
    _, ref_mean, _, _ = mean_curve(ref)
    lines = [f"{out} (random's final mean mAP50 {ref_mean[-1]:.3f})", "",
             "| strategy | seeds | " + " | ".join(
                 f"{unit}: to random's final (share of random's; seed range)"
                 for unit in UNITS) + " |", "|---|---|" + "---|" * len(UNITS)]
    for name, s in strategies.items():
        cells = []
        for unit in UNITS:
            if not (has_unit(s, unit) and has_unit(ref, unit)):
                cells.append("-")
                continue
            n = min(len(mean_curve(ref)[0]), len(mean_curve(s)[0]))
            target = float(ref_mean[n - 1])
            spent = float(mean_curve(ref, unit)[0][n - 1])
            cost, mean, _, _ = mean_curve(s, unit)
            overall = _share(cost[:n], mean[:n], target, spent)
            per_seed = []
            for run in s["seeds"].values():
                c = np.array([p[UNITS[unit]] for p in run[:n]], np.float64)
                m = np.array([p["map50"] for p in run[:n]], np.float64)
                per_seed.append(_share(c, m, target, spent))
            reached = [f for f in per_seed if f is not None]
            spread = (f"{min(reached):.0%}-{max(reached):.0%}" if reached else "none") + (
                f", {len(per_seed) - len(reached)} not reached" if len(reached) < len(per_seed)
                else "")
            cells.append("not reached" if overall is None else
                         f"{_amount(overall * spent, unit)} ({overall:.0%}; {spread})")
        lines.append(f"| {name} | {len(s['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="+", help="simulate --out folders")
    args = parser.parse_args()
    for out in args.out:
        print(cost_table(out))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
