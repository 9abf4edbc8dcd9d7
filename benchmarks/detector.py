"""Detector speed and accuracy on the demo.

The default config, as a user runs it: a demo with 500 labeled images, then
``python -m al_core train`` with no --config, timed by the wall clock (process start,
image loading, training, checkpoint), then the test split predicted and evaluated.
Prints the wall time, epochs run, why training stopped and the test mAP50 of each run,
and their medians:

    .venv/bin/python benchmarks/detector.py [--runs 3] [--template DIR] [--config JSON]

(``--config`` measures another ``train --config`` the same way, e.g. the old default
``'{"epochs": 80, "patience": 0}'``.)

With ``--budget S``, also the in-process curve of the earlier issue: training with a time
budget of S seconds (epochs unbounded), test mAP50 after each epoch, time to 0.85, train
and inference images/s, and one torchvision model for contrast:

    .venv/bin/python benchmarks/detector.py --runs 0 --budget 180 [--project DIR]
        [--contrast fasterrcnn_mobilenet_v3_large_fpn] [--contrast-budget 180]

The test split is only measured, never used for choices.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from al_core.simulation.demo import (DemoConfig, create_demo_project, label_from_oracle_at_random)  # noqa: E402
from al_core.store import DB_NAME, Store  # noqa: E402
from al_core.training.checkpoints import build_detector  # noqa: E402
from al_core.training.config import TrainConfig, merge_config
from al_core.training.data import load_split  # noqa: E402
from al_core.training.loop import train_loop, val_map  # noqa: E402
from al_core.training.split import split_project  # noqa: E402

TARGET = 0.85
ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, quiet: bool = True) -> str:
    """Run ``python -m al_core ARGS`` as a user would; returns its stdout."""
    done = subprocess.run([sys.executable, "-m", "al_core", *args], cwd=ROOT, check=True,
                          capture_output=quiet, text=True)
    return done.stdout or ""


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def default_training(template: Path, work: Path, config: str | None = None) -> dict:
    """One run of the default config (or ``train --config CONFIG``) on a fresh copy of
    ``template`` (a demo with 500 labeled images): ``train`` timed by the wall clock, then
    ``predict --split test`` and ``evaluate``."""
    project = work / "p"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(template, project)
    load_before = _load()
    start = time.monotonic()
    _cli("train", "--project", str(project), *(["--config", config] if config else []))
    wall = time.monotonic() - start
    with Store(project) as store:
        (model,) = store.models()
        metrics = model["metrics"]
        message = store.jobs(limit=1)[0]["message"]
    _cli("predict", "--project", str(project), "--model", str(model["id"]), "--split", "test")
    result = json.loads(_cli("evaluate", "--project", str(project), "--model",
                             str(model["id"]), "--json"))
    return {"wall_s": wall, "loop_s": metrics["history"][-1]["elapsed_s"],
            "epochs": metrics["epochs_run"], "stop": metrics["stop_reason"],
            "best_epoch": metrics["best_epoch"], "val": metrics["val_map50"],
            "test": result["map"], "load": f"{load_before} -> {_load()}", "message": message}


def default_runs(template: Path | None, runs: int, config: str | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-detector-") as tmp:
        work = Path(tmp)
        if template is None or not (template / DB_NAME).exists():
            template = template or work / "template"
            _cli("demo", "--project", str(template), "--labeled", "500")
        print(f"{'train --config ' + config if config else 'default config'} on {template}: "
              f"{os.cpu_count()} CPUs (nproc), "
              f"load average (1/5/15 min) {_load()}", flush=True)
        results = []
        for n in range(1, runs + 1):
            r = default_training(template, work, config)
            results.append(r)
            print(f"  run {n}: {r['wall_s']:.0f} s wall ({r['loop_s']:.0f} s in the training "
                  f"loop), {r['epochs']} epochs, stopped: "
                  f"{r['stop']}, best epoch {r['best_epoch']} (val mAP50 {r['val']:.3f}), "
                  f"test mAP50 {r['test']:.3f}; load {r['load']}\n    {r['message']}",
                  flush=True)
        print(f"median of {runs}: {statistics.median(r['wall_s'] for r in results):.0f} s wall, "
              f"{statistics.median(r['epochs'] for r in results):g} epochs, test mAP50 "
              f"{statistics.median(r['test'] for r in results):.3f}")


def demo_project(path: Path) -> Store:
    if not (path / DB_NAME).exists():
        store = create_demo_project(path, DemoConfig())
        label_from_oracle_at_random(store, 500, seed=0)
        split_project(store, seed=0)
        return store
    store = Store(path)
    made_by, current = store.get_meta("demo_config"), repr(DemoConfig())
    # made before empty_share existed (0 by default): the same scenes
    same = made_by in (current, current.replace(", empty_share=0.0", ""))
    if made_by is not None and not same:  # a stale demo, not a user's own
        store.close()
        raise SystemExit(f"{path} was made by another version of the demo ({made_by}); "
                         "delete it to have it made again, or give another --project")
    return store


def run(store: Store, config: TrainConfig) -> dict:
    index = {c.id: k for k, c in enumerate(store.classes())}
    data = {s: load_split(store, s, image_size=config.image_size, class_index=index)
            for s in ("train", "val", "test")}
    model = build_detector(config, len(index), seed=config.seed)
    cpu = torch.device("cpu")
    curve, reached, eval_s = [], None, 0.0

    validated = []

    def on_epoch(rec: dict) -> None:
        nonlocal reached, eval_s
        start = time.monotonic()
        test = val_map(validated[-1], data["test"], device=cpu)  # the model train() keeps
        eval_s += time.monotonic() - start
        curve.append((rec["elapsed_s"], rec["epoch"], rec["val_map50"], test))
        print(f"  {config.arch} epoch {rec['epoch']:>3} {rec['elapsed_s']:6.1f}s "
              f"val {rec['val_map50']:.3f} test {test:.3f}", flush=True)
        if reached is None and test >= TARGET:
            reached = rec["elapsed_s"]

    start = time.monotonic()
    result = train_loop(model, data["train"], data["val"], config, progress=on_epoch,
                        on_validated=validated.append)
    wall = time.monotonic() - start - eval_s
    model.load_state_dict(result.state_dict)
    model.eval()
    batch = data["test"].images[:64].float() / 255
    runs = []
    with torch.inference_mode():
        model.predict(batch)
        for _ in range(3):
            t = time.perf_counter()
            model.predict(batch)
            runs.append(len(batch) / (time.perf_counter() - t))
    return {"arch": config.arch, "train_images": len(data["train"]),
            "train_img_s": len(data["train"]) * result.epochs_run / wall,
            "infer_img_s": statistics.median(runs), "epochs": result.epochs_run,
            "best_test": max(c[3] for c in curve), "final_test": val_map(model, data["test"], device=cpu),
            "reached_s": reached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of the default config through the CLI (0: none)")
    parser.add_argument("--template", type=Path,
                        help="a demo project with 500 labeled images to copy for each run "
                             "(made with `demo --labeled 500` when missing)")
    parser.add_argument("--config", help="a train --config override for those runs "
                                         "(default: none, the default config)")
    parser.add_argument("--budget", type=float, help="also the in-process time-budget curve")
    parser.add_argument("--project", type=Path, default=Path("data/bench-demo-500"))
    parser.add_argument("--contrast", default="fasterrcnn_mobilenet_v3_large_fpn")
    parser.add_argument("--contrast-budget", type=float, default=180)
    args = parser.parse_args()
    if args.runs:
        default_runs(args.template, args.runs, args.config)
    if args.budget is None:
        return
    torch.set_num_threads(os.cpu_count() or 1)
    store = demo_project(args.project)
    results = [run(store, merge_config(TrainConfig(), {"time_budget_s": args.budget,
                                                       "epochs": 1000, "patience": 0}))]
    if args.contrast:
        results.append(run(store, merge_config(TrainConfig(), {
            "arch": args.contrast, "time_budget_s": args.contrast_budget, "epochs": 1000,
            "image_size": 160, "batch_size": 8, "lr": 1e-3, "augment": ["color"],
            "patience": 0})))
    print(f"\n{'arch':<36}{'train img/s':>12}{'infer img/s':>12}{'epochs':>8}"
          f"{'test mAP50 at end':>19}{'time to 0.85':>14}")
    for r in results:
        reached = f"{r['reached_s']:.0f} s" if r["reached_s"] is not None else "not reached"
        print(f"{r['arch']:<36}{r['train_img_s']:>12.0f}{r['infer_img_s']:>12.0f}"
              f"{r['epochs']:>8}{r['final_test']:>19.3f}{reached:>14}")


if __name__ == "__main__":
    main()
