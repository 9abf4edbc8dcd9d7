"""Can the default detector learn a demo dataset? One run: a demo project, labels for a
random part of its pool from the oracle, the default training config, test mAP50.

    .venv/bin/python benchmarks/shapes_sanity.py [--kind shapes] [--images 600] [--test 150]
        [--labeled 300] [--seed 101] [--project DIR] [--config JSON]

Seed 101 by default: a draw of the scenes that no reported benchmark uses, so choosing the
dataset's difficulty on it does not tune on the reported draws.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from al_core.evaluation.model_eval import evaluate_model  # noqa: E402
from al_core.simulation.demo import (DEMO_KINDS, create_demo_project, demo_config,
                                     label_from_oracle_at_random)
from al_core.training.candidates import create_candidate  # noqa: E402
from al_core.training.prediction import predict_items
from al_core.training.split import split_project  # noqa: E402
from al_core.training.train_job import train_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=DEMO_KINDS, default="shapes")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--labeled", type=int, default=300)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--project", type=Path, help="where to make it (default: a temp dir)")
    parser.add_argument("--config", default="{}", help="a training override (JSON)")
    args = parser.parse_args()
    project = args.project or Path(tempfile.mkdtemp()) / "p"
    start = time.monotonic()
    store = create_demo_project(project, demo_config(args.kind, n_images=args.images,
                                                     test_size=args.test, seed=args.seed))
    label_from_oracle_at_random(store, args.labeled, seed=args.seed)
    split_project(store, seed=args.seed)
    made = time.monotonic()
    model_id = create_candidate(store, override=json.loads(args.config))
    train_model(store, model_id, log_line=lambda line: print(f"  {line}", flush=True))
    trained = time.monotonic()
    test_ids, _ = store.test_set_identity()
    predict_items(store, model_id, test_ids)
    result, _ = evaluate_model(store, model_id)
    names = {c.id: c.name for c in store.classes()}
    print(f"{args.kind} seed {args.seed} {args.config}: {args.images} images, {args.labeled} labeled, "
          f"{len(test_ids)} test; test mAP50 {result.map:.3f}")
    print("per class AP50: " + ", ".join(f"{names.get(k, k)} {c.ap:.2f}"
                                         for k, c in sorted(result.per_class.items())))
    print(f"project {made - start:.0f}s, training {trained - made:.0f}s, predict+evaluate "
          f"{time.monotonic() - trained:.0f}s ({project})")


if __name__ == "__main__":
    main()
