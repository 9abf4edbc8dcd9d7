"""The label-efficiency benchmark of issue 17: the default strategy against random on both
demo datasets, 5 seeds each, timed as one whole simulation.

    .venv/bin/python benchmarks/label_efficiency.py --out data/label-efficiency

Runs ``simulate`` on the digits demo (100 initial labels, 4 rounds of 75) and on the
shapes demo (200 initial labels, 4 rounds of 150: its objects are small and many, and
at 400 labels random's model is still near 0.15 mAP50), each on the demo's own draw
(``--demo-seed 0``, the reported one; settings are chosen on other draws). The two run
side by side, the CPUs this process may use split between them (one each on 2 cores:
one torch thread each beats two processes of two threads fighting over two cores);
each one's output goes to ``OUT/<kind>-demo<draw>.log``. Then it prints each one's wall
time, the cost to reach random's final mAP50 in images, boxes and corrections
(``label_cost.py``) and the worst gap to random at any round. Folders are resumed when
rerun (the times then cover only what was left). ``--strategy`` adds strategies to
compare (the default and random always run); ``--seeds`` and ``--demo-seed`` choose
other draws, e.g. development ones.
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
from label_cost import cost_table  # noqa: E402

from al_core.query.strategies import DEFAULT_STRATEGY  # noqa: E402
from al_core.simulation.results import summarize  # noqa: E402

# per dataset: (initial, add, rounds)
SETTINGS = {"digits": (100, 75, 4), "shapes": (200, 150, 4)}


def _command(kind: str, out: Path, args, strategies: tuple[str, ...]) -> list[str]:
    initial, add, rounds = SETTINGS[kind]
    return [sys.executable, "-m", "al_core", "simulate", "--demo", "--demo-kind", kind,
            "--demo-seed", str(args.demo_seed), "--seeds", str(args.seeds),
            "--initial", str(initial), "--add", str(add), "--rounds", str(rounds),
            "--out", str(out), *[f"--strategy={name}" for name in strategies]]


def _pin(cpus: list[int]):
    """A preexec_fn that keeps the child on ``cpus`` (torch then runs one thread per CPU
    there: al_core.training.loop.use_allowed_cpus), or None where that cannot be done."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, set(cpus))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for both simulations")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--demo-seed", type=int, default=0)
    parser.add_argument("--strategy", action="append", default=[],
                        help="another strategy to run beside the default and random")
    parser.add_argument("--kind", action="append", choices=list(SETTINGS),
                        help="only this dataset (repeat; default both)")
    args = parser.parse_args()
    strategies = tuple(dict.fromkeys(["random", DEFAULT_STRATEGY, *args.strategy]))
    kinds = args.kind or list(SETTINGS)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    running = {}
    share = len(cpus) // len(kinds) if len(kinds) > 1 else 0
    for k, kind in enumerate(kinds):  # side by side, the allowed CPUs split between them
        out = args.out / f"{kind}-demo{args.demo_seed}"
        mine = cpus[k * share:(k + 1) * share] if share else []
        log = open(args.out / f"{kind}-demo{args.demo_seed}.log", "a")
        print(f"{kind}: simulating into {out} (log {log.name}"
              + (f", CPUs {mine}" if mine else "") + ")", flush=True)
        running[kind] = (out, log, subprocess.Popen(
            _command(kind, out, args, strategies), stdout=log, stderr=subprocess.STDOUT,
            cwd=ROOT, preexec_fn=_pin(mine)))
    ended: dict[str, tuple[int, float]] = {}
    while len(ended) < len(running):  # each one's time is taken when it ends
        for kind, (_, log, process) in running.items():
            if kind not in ended and process.poll() is not None:
                ended[kind] = (process.returncode, time.monotonic())
                log.close()
        time.sleep(1)
    lines, failed = [], False
    for kind, (out, log, _) in running.items():
        code, end = ended[kind]
        minutes = (end - start) / 60
        if code:
            lines.append(f"{kind}: simulate failed (exit {code}); see {log.name}")
            failed = True
            continue
        curves = json.loads((out / "curves.json").read_text())
        gaps = {name: s.get("worst_gap_to_random")
                for name, s in summarize(curves)["strategies"].items()}
        lines += [f"{kind}: {minutes:.1f} min", cost_table(out),
                  "worst gap to random's mean at any round (mAP50 points): " + ", ".join(
                      f"{name} {100 * gap:+.1f}" for name, gap in gaps.items()
                      if gap is not None and name != "random"), ""]
    print("\n".join(lines))
    print(f"whole simulation: {(time.monotonic() - start) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
