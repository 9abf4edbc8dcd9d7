"""What a simulation's labels cost in boxes: the oracle boxes in each run's labeled
(train + val) images after every round, per strategy, averaged over seeds.

    .venv/bin/python benchmarks/label_cost.py data/sim4

The simulation counts labeled images; a strategy that prefers crowded images buys more
boxes per image, which costs annotators more time per image. This prints both.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from al_core.simulate import _round_tag  # noqa: E402
from al_core.store import Store  # noqa: E402


def boxes_by_round(project: Path) -> list[tuple[int, int]]:
    """(labeled images, their boxes) after each round of one run, round 0 first."""
    with Store(project) as store:
        tags = {s.tag for s in store.selections()}
        out, images, boxes, r = [], 0, 0, 0
        while _round_tag(r) in tags:
            ids = [i.item_id for i in store.selection(_round_tag(r)).items]
            images += len(ids)
            boxes += sum(len(a) for a in store.annotations(ids).values())
            out.append((images, boxes))
            r += 1
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="a simulate --out folder")
    args = parser.parse_args()
    curves = json.loads((args.out / "curves.json").read_text())
    print("| strategy | labeled images per round | boxes in them (mean over seeds) "
          "| boxes per image at the last round |")
    print("|---|---|---|---|")
    for name in curves["strategies"]:
        runs = sorted((args.out / "runs" / name).glob("seed-*"))
        counts = [boxes_by_round(run) for run in runs]
        length = min(len(c) for c in counts)
        images = [n for n, _ in counts[0][:length]]
        boxes = np.array([[b for _, b in c[:length]] for c in counts], np.float64).mean(0)
        print(f"| {name} | {' / '.join(map(str, images))} | "
              f"{' / '.join(f'{b:.0f}' for b in boxes)} | {boxes[-1] / images[-1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
