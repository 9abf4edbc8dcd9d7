"""The oracle simulation's results: mean curves over seeds, the labels each strategy
needs to reach random's final mAP50, and the plot, in four units of annotation cost.

A curve point (``curves.json``) holds, after a round, ``labeled`` (train + val images),
``map50`` (test mAP50), and, from simulations made since corrections are counted,
``boxes`` (true boxes in those images) and ``corrections`` (the edits their review
needed against the selecting model's pre-labels, :mod:`al_core.review.corrections`), and,
since seconds are estimated, ``seconds`` (the annotator seconds those reviews would take
by the published-constant cost model, :mod:`al_core.review.effort`), all summed over the
rounds so far. A unit is reported where every point of a strategy has it; a point
without it (an older ``curves.json``) leaves the unit out, as ``None`` does.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

# unit name -> the point's key
UNITS = {"images": "labeled", "boxes": "boxes", "corrections": "corrections",
         "seconds": "seconds"}


def _runs(strategy: dict) -> tuple[list[list[dict]], int]:
    runs = list(strategy["seeds"].values())
    return runs, min(len(p) for p in runs)


def has_unit(strategy: dict, unit: str) -> bool:
    runs, length = _runs(strategy)
    return all(p.get(UNITS[unit]) is not None for run in runs for p in run[:length])


def mean_curve(strategy: dict, unit: str = "images"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cost in ``unit`` (R,), mean, min and max of mAP50 over the seeds, R being the
    rounds every seed has finished. Images are the same for every seed at a round;
    boxes, corrections and seconds are the mean over the seeds."""
    runs, length = _runs(strategy)
    key = UNITS[unit]
    cost = np.array([[p[key] for p in run[:length]] for run in runs], np.float64).mean(0)
    maps = np.array([[p["map50"] for p in run[:length]] for run in runs])  # (S, R)
    return cost, maps.mean(0), maps.min(0), maps.max(0)


def labels_to_reach(labeled: np.ndarray, curve: np.ndarray, level: float) -> float | None:
    """Cost (labels, boxes, corrections or seconds) where the linearly interpolated
    curve first reaches ``level``; None when it never does."""
    for i in range(len(curve)):
        if curve[i] >= level:
            if i == 0:
                return float(labeled[0])
            a, b = curve[i - 1], curve[i]
            return float(labeled[i - 1] + (level - a) / (b - a) * (labeled[i] - labeled[i - 1]))
    return None


def summarize(curves: dict) -> dict:
    """Per strategy: the mean curve, the cost needed to reach random's final mAP50 (and
    as a fraction of random's cost at its last round) in each unit both have, and the
    worst gap to random at any round. ``labels_to_random_final`` and
    ``fraction_of_random_labels`` are the images unit's figures."""
    strategies = {name: s for name, s in curves["strategies"].items() if s["seeds"]}
    out: dict = {"strategies": {}}
    reference = strategies.get("random")
    for name, s in strategies.items():
        labeled, mean, _, _ = mean_curve(s)
        row = {"labeled": labeled.tolist(), "mean_map50": mean.round(4).tolist(),
               "seeds": len(s["seeds"])}
        for unit in ("boxes", "corrections", "seconds"):
            if has_unit(s, unit):
                row[f"mean_{unit}"] = mean_curve(s, unit)[0].round(1).tolist()
        if reference is not None:
            ref_labeled, ref_mean, _, _ = mean_curve(reference)
            n = min(len(ref_labeled), len(labeled))
            target = float(ref_mean[n - 1])
            row.update({"random_final_map50": round(target, 4),
                        "worst_gap_to_random": round(float((mean[:n] - ref_mean[:n]).min()), 4),
                        "to_random_final": {}})
            for unit in UNITS:
                if not (has_unit(s, unit) and has_unit(reference, unit)):
                    continue
                cost, ref_cost = mean_curve(s, unit)[0], mean_curve(reference, unit)[0]
                needed = labels_to_reach(cost[:n], mean[:n], target)
                row["to_random_final"][unit] = {
                    "needed": None if needed is None else round(needed, 1),
                    "random": round(float(ref_cost[n - 1]), 1),
                    "fraction": None if needed is None
                    else round(needed / float(ref_cost[n - 1]), 3)}
            images = row["to_random_final"]["images"]
            row["labels_to_random_final"] = images["needed"]
            row["fraction_of_random_labels"] = images["fraction"]
        out["strategies"][name] = row
    return out


def format_table(summary: dict) -> str:
    """A Markdown table of :func:`summarize`'s result: the curve, the images needed to
    reach random's final mAP50, the shares of random's images, boxes, corrections and
    estimated annotator seconds, and the worst gap to random."""
    lines = ["| strategy | mAP50 per round (mean over seeds) | labels to random's final "
             "mAP50 | share of random's labels | of its boxes | of its corrections "
             "| share of random's seconds | worst gap to random |",
             "|---|---|---|---|---|---|---|---|"]

    def share(row: dict, unit: str) -> str:
        figures = row.get("to_random_final", {}).get(unit)
        if figures is None:
            return "-"
        return "not reached" if figures["fraction"] is None else f"{figures['fraction']:.0%}"

    for name, row in summary["strategies"].items():
        curve = " / ".join(f"{m:.3f}" for m in row["mean_map50"])
        needed = row.get("labels_to_random_final")
        gap = row.get("worst_gap_to_random")
        reached = "-" if "random_final_map50" not in row else \
            "not reached" if needed is None else f"{needed:.0f}"
        lines.append(f"| {name} | {curve} | {reached} | {share(row, 'images')} | "
                     f"{share(row, 'boxes')} | {share(row, 'corrections')} | "
                     f"{share(row, 'seconds')} | "
                     f"{'-' if gap is None else f'{gap * 100:+.1f} points'} |")
    return "\n".join(lines)


def plot_curves(curves: dict, path: Path) -> None:
    """Test mAP50 against labeled images, their boxes, the corrections they needed and
    the annotator time estimated for them, in hours (one panel per unit the curves have,
    two panels a row): per strategy the mean over seeds and its min-max band. Written
    atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {n: s for n, s in curves["strategies"].items() if s["seeds"]}
    units = [u for u in UNITS if all(has_unit(s, u) for s in shown.values())] or ["images"]
    columns = min(2, len(units))
    rows = math.ceil(len(units) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 4.2 * rows), dpi=120,
                             sharey=True, squeeze=False)
    labels = {"images": "labeled images (train + val)", "boxes": "boxes in them",
              "corrections": "corrections to the pre-labels",
              "seconds": "estimated annotator hours (published constants)"}
    scale = {"seconds": 1 / 3600}
    for ax, unit in zip(axes.flat, units):
        for name, s in shown.items():
            cost, mean, low, high = mean_curve(s, unit)
            cost = cost * scale.get(unit, 1)
            style = {"color": "0.4", "linestyle": "--"} if name == "random" else {}
            line, = ax.plot(cost, mean, marker="o",
                            label=f"{name} ({len(s['seeds'])} seeds)", **style)
            ax.fill_between(cost, low, high, color=line.get_color(), alpha=0.15)
        ax.set_xlabel(labels[unit])
        ax.set_ylabel("test mAP50")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(units):]:
        ax.set_visible(False)
    axes[0][-1].legend(loc="lower right")
    fig.suptitle("Label efficiency: test mAP50 against what the labels cost")
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
