"""Selection speed: k-center greedy (coreset), ranked batch, uncertainty scoring.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/query_speed.py [--repeats 3] [--small]

Each contender runs on the same arrays in the same process; medians of ``--repeats``.
- coreset: k=1000 from 100k x 512 float32 embeddings, random Gaussian and clustered data.
  Baseline: the plain numpy greedy (one GEMV over all points per pick). Quality: the
  coverage radius (max distance from any point to its nearest pick) in the original
  space, ours vs the baseline's, and a random pick's for scale.
- ranked batch: 10k x 128 pool, 100 and 1000 labeled, batch 100: modAL's uncertainty batch
  sampling (``modAL.batch.ranked_batch``, the same uncertainty given) vs ours; same items?
- scoring: 1M detection rows x 10 class probabilities, each measure, and the whole
  per-image score a query computes (background column + measure + max per image, and the
  default: class-weighted sum).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from al_core.query.measures import (MEASURES, entropy, image_uncertainty, least_confidence, margin,
                                    rare_class_weights)
from al_core.query.selectors import coverage_radius, select_k_center, select_ranked_batch
from al_core.query.strategies import DEFAULT_OPTIONS  # noqa: E402


def timed(fn, repeats: int):
    """(result of the last run, median seconds, all runs)"""
    runs, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return result, statistics.median(runs), runs


def gaussian(n: int, d: int, rng) -> np.ndarray:
    return rng.standard_normal((n, d), dtype=np.float32)


def clustered(n: int, d: int, rng, n_clusters: int = 300, sub: int = 16) -> np.ndarray:
    """Clusters of different spreads, each varying along its own 16-d subspace, plus a
    little isotropic noise: closer to real image embeddings than a Gaussian."""
    centers = rng.standard_normal((n_clusters, d), dtype=np.float32) * 2
    basis = rng.standard_normal((n_clusters, sub, d), dtype=np.float32) / np.sqrt(d)
    label = rng.integers(0, n_clusters, n)
    coef = rng.standard_normal((n, sub), dtype=np.float32) \
        * rng.uniform(0.5, 3, (n, 1)).astype(np.float32)
    x = centers[label] + np.einsum("nk,nkd->nd", coef, basis[label])
    return (x + 0.05 * rng.standard_normal((n, d), dtype=np.float32)).astype(np.float32)


def k_center_numpy(x: np.ndarray, k: int) -> np.ndarray:
    """The plain greedy, float32, |x|^2 + |c|^2 - 2 x.c: one pass over all points per pick.
    Starts, as ours, at the point nearest the mean."""
    x = x - x.mean(axis=0)
    sq = np.einsum("ij,ij->i", x, x)
    first = int(np.argmin(sq))
    dist = np.maximum(sq + sq[first] - 2 * (x @ x[first]), 0)
    chosen = [first]
    for _ in range(k - 1):
        i = int(np.argmax(dist))
        chosen.append(i)
        np.minimum(dist, np.maximum(sq + sq[i] - 2 * (x @ x[i]), 0), out=dist)
    return np.array(chosen)


def bench_coreset(n: int, d: int, k: int, repeats: int) -> None:
    print(f"## coreset: k={k} from {n:,} x {d} float32, median of {repeats}")
    print("| data | numpy greedy | ours | speed-up | radius ours / numpy | random / numpy "
          "| same picks |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name, make in (("Gaussian", gaussian), ("clustered", clustered)):
        x = make(n, d, rng)
        base, base_s, base_runs = timed(lambda: k_center_numpy(x, k), repeats)
        ours, ours_s, ours_runs = timed(lambda: select_k_center(x, k).indices, repeats)
        r_base = coverage_radius(x, x[base])
        r_ours = coverage_radius(x, x[ours])
        r_rand = coverage_radius(x, x[rng.choice(n, k, replace=False)])
        same = int((base == ours).sum())
        print(f"| {name} | {base_s:.2f} s ({', '.join(f'{t:.2f}' for t in base_runs)}) "
              f"| {ours_s:.3f} s ({', '.join(f'{t:.3f}' for t in ours_runs)}) "
              f"| {base_s / ours_s:.1f}x | {r_ours / r_base:.5f} | {r_rand / r_base:.3f} "
              f"| {same}/{k} |", flush=True)


def bench_ranked_batch(n: int, d: int, labeled: int, batch: int, repeats: int) -> None:
    from modAL.batch import ranked_batch
    from modAL.models import ActiveLearner
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    pool, known = rng.standard_normal((n, d)), rng.standard_normal((labeled, d))
    uncertainty = rng.random(n)
    learner = ActiveLearner(LogisticRegression(max_iter=200), X_training=known,
                            y_training=np.arange(labeled) % 2)
    (theirs, _), modal_s, modal_runs = timed(
        lambda: ranked_batch(learner, pool, uncertainty, batch, "euclidean", None), repeats)
    ours, ours_s, ours_runs = timed(
        lambda: select_ranked_batch(pool, uncertainty, batch, labeled=known), repeats)
    print(f"\n## ranked batch: {n:,} x {d} pool, {labeled} labeled, batch {batch}, "
          f"median of {repeats}")
    print("| implementation | median | runs |\n|---|---|---|")
    print(f"| modAL 0.4.2.1 ranked_batch | {modal_s:.3f} s | "
          f"{', '.join(f'{t:.3f}' for t in modal_runs)} |")
    print(f"| ours (select_ranked_batch) | {ours_s:.4f} s | "
          f"{', '.join(f'{t:.4f}' for t in ours_runs)} |")
    print(f"speed-up {modal_s / ours_s:.0f}x; same items in the same order: "
          f"{np.array_equal(theirs, ours)}", flush=True)


def bench_scoring(rows: int, classes: int, per_image: int, repeats: int) -> None:
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(classes), rows).astype(np.float32)  # (M, C)
    scores = rng.uniform(0.05, 1, rows).astype(np.float32)
    index = np.repeat(np.arange(rows // per_image), per_image)
    print(f"\n## scoring: {rows:,} rows x {classes} probabilities, median of {repeats}")
    print("| what | median | runs |\n|---|---|---|")
    cases = {"least_confidence": lambda: least_confidence(probs),
             "margin": lambda: margin(probs), "entropy": lambda: entropy(probs)}
    for measure in MEASURES:  # background column, max per image (as BENCHMARKS.md quotes)
        cases[f"per-image {measure} ({rows // per_image:,} images x {per_image} boxes)"] = \
            lambda m=measure: image_uncertainty(probs, scores, index, rows // per_image,
                                                measure=m, aggregate="max")
    counts = rng.integers(0, 500, classes).astype(np.float64)  # labeled boxes per class
    predicted = probs.argmax(1)  # stored with each box; a query reads it, not computes it
    cases["per-image entropy, class-weighted sum (the default)"] = lambda: image_uncertainty(
        probs, scores, index, rows // per_image,
        weights=rare_class_weights(predicted, counts, DEFAULT_OPTIONS["class_weight"]))
    for name, fn in cases.items():
        _, med, runs = timed(fn, repeats)
        print(f"| {name} | {med * 1000:.0f} ms | {', '.join(f'{t * 1000:.0f}' for t in runs)} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--scoring-only", action="store_true", help="only the scoring table")
    args = parser.parse_args()
    scale = 20 if args.small else 1
    print(f"numpy {np.__version__}; 2 CPU cores expected\n")
    bench_scoring(1_000_000 // scale, 10, 10, args.repeats)
    if args.scoring_only:
        return
    for labeled in (100, 1000):  # modAL's cost grows with the labeled set, ours barely
        bench_ranked_batch(10_000 // scale, 128, labeled // scale, 100 // scale, args.repeats)
    print()
    bench_coreset(100_000 // scale, 512, 1000 // scale, args.repeats)


if __name__ == "__main__":
    main()
