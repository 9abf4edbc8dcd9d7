"""Detector speed and accuracy on the demo: time to reach test mAP50 >= 0.85, train and
inference images/s, for the compact detector and one torchvision model for contrast.

    .venv/bin/python benchmarks/detector.py [--project DIR] [--budget 180]
        [--contrast fasterrcnn_mobilenet_v3_large_fpn] [--contrast-budget 180]

The project defaults to a demo with 500 labeled train/val images (created if missing).
The test split is only measured after each epoch, never used for choices.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from al_core.data import load_split  # noqa: E402
from al_core.demo import DemoConfig, create_demo_project, label_from_oracle_at_random  # noqa: E402
from al_core.registry import build_detector  # noqa: E402
from al_core.split import split_project  # noqa: E402
from al_core.store import DB_NAME, Store  # noqa: E402
from al_core.train import TrainConfig, merge_config, train_loop, val_map  # noqa: E402

TARGET = 0.85


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
    model = build_detector(config, len(index))
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
    parser.add_argument("--project", type=Path, default=Path("data/bench-demo-500"))
    parser.add_argument("--budget", type=float, default=180)
    parser.add_argument("--contrast", default="fasterrcnn_mobilenet_v3_large_fpn")
    parser.add_argument("--contrast-budget", type=float, default=180)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    store = demo_project(args.project)
    results = [run(store, merge_config(TrainConfig(), {"time_budget_s": args.budget,
                                                       "epochs": 1000}))]
    if args.contrast:
        results.append(run(store, merge_config(TrainConfig(), {
            "arch": args.contrast, "time_budget_s": args.contrast_budget, "epochs": 1000,
            "image_size": 160, "batch_size": 8, "lr": 1e-3, "augment": ["color"]})))
    print(f"\n{'arch':<36}{'train img/s':>12}{'infer img/s':>12}{'epochs':>8}"
          f"{'test mAP50 at end':>19}{'time to 0.85':>14}")
    for r in results:
        reached = f"{r['reached_s']:.0f} s" if r["reached_s"] is not None else "not reached"
        print(f"{r['arch']:<36}{r['train_img_s']:>12.0f}{r['infer_img_s']:>12.0f}"
              f"{r['epochs']:>8}{r['final_test']:>19.3f}{reached:>14}")


if __name__ == "__main__":
    main()
