"""Single-IoU COCO evaluation speed: ours vs faster-coco-eval vs pycocotools, one run.

    .venv/bin/python benchmarks/eval_speed.py [--images 10000] [--repeats 3]

Each contender starts from the same in-memory COCO dicts and does everything it needs
(index, load results, match, accumulate) at IoU 0.5, area "all", maxDets 100. Prints the
median wall time of each, the ratios, and the largest per-class AP difference.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from al_core.evaluation.metrics import evaluate_coco  # noqa: E402


def make_dataset(n_images: int, n_classes: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480}
              for i in range(1, n_images + 1)]
    n_gt = rng.integers(4, 13, n_images)  # ~8 boxes per image
    img = np.repeat(np.arange(1, n_images + 1), n_gt)
    xy = rng.uniform(0, 560, (len(img), 2))
    wh = rng.uniform(8, 80, (len(img), 2))
    cls = rng.integers(1, n_classes + 1, len(img))
    anns = [{"id": k + 1, "image_id": int(img[k]), "category_id": int(cls[k]),
             "bbox": [*xy[k].tolist(), *wh[k].tolist()], "area": float(wh[k].prod()),
             "iscrowd": 0} for k in range(len(img))]
    hit = rng.random(len(img)) < 0.8  # detections near 80% of the boxes, plus false ones
    noise = rng.normal(0, 4, (len(img), 4))
    results = [{"image_id": int(img[k]), "category_id": int(cls[k]) if rng.random() < 0.9
                else int(rng.integers(1, n_classes + 1)),
                "bbox": [*(xy[k] + noise[k, :2]).tolist(), *np.maximum(wh[k] + noise[k, 2:], 1).tolist()],
                "score": float(rng.random())} for k in np.flatnonzero(hit)]
    n_false = len(img) // 4
    fimg = rng.integers(1, n_images + 1, n_false)
    for k in range(n_false):
        results.append({"image_id": int(fimg[k]), "category_id": int(rng.integers(1, n_classes + 1)),
                        "bbox": [*rng.uniform(0, 560, 2).tolist(), *rng.uniform(8, 80, 2).tolist()],
                        "score": float(rng.random() * 0.7)})
    cats = [{"id": c, "name": f"class{c}"} for c in range(1, n_classes + 1)]
    return {"images": images, "annotations": anns, "categories": cats}, results


def run_ours(gt, results):
    result, _ = evaluate_coco(gt, results, iou_threshold=0.5)
    return {c: r.ap for c, r in result.per_class.items()}


def _cocoeval(coco_cls, eval_cls, gt, results, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_cls()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = eval_cls(coco_gt, coco_dt, "bbox", **kwargs)
        ev.params.iouThrs = np.array([0.5])
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, -1]
    return {cat: float(np.mean(precision[:, k][precision[:, k] > -1]))
            for k, cat in enumerate(ev.params.catIds) if (precision[:, k] > -1).any()}


def run_pycocotools(gt, results):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    return _cocoeval(COCO, COCOeval, gt, results)


def run_faster(gt, results):
    from faster_coco_eval import COCO, COCOeval_faster
    return _cocoeval(COCO, COCOeval_faster, gt, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gt, results = make_dataset(args.images)
    print(f"{args.images} images, {len(gt['annotations'])} ground-truth boxes, "
          f"{len(results)} detections, 80 classes, IoU 0.5; median of {args.repeats}")
    times, aps = {}, {}
    for name, fn in [("ours", run_ours), ("faster-coco-eval", run_faster),
                     ("pycocotools", run_pycocotools)]:
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            aps[name] = fn(gt, results)
            runs.append(time.perf_counter() - start)
        times[name] = statistics.median(runs)
        print(f"  {name:<17} {times[name]:7.3f} s  (runs: {', '.join(f'{t:.3f}' for t in runs)})")
    for other in ("faster-coco-eval", "pycocotools"):
        diff = max(abs(aps["ours"][c] - aps[other][c]) for c in aps[other])
        print(f"  ours is {times[other] / times['ours']:.1f}x faster than {other}; "
              f"max per-class AP difference {diff:.1e}")


if __name__ == "__main__":
    main()
