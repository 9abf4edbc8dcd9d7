"""The two pretrained backbones' image embeddings: speed, agreement, typicality's picks.

    nice -n 10 .venv/bin/python benchmarks/backbone_embeddings.py [--images 64] [--repeats 3]
        [--threads 2] [--pool 200] [--k 10] [--seeds 5]

Needs both ImageNet files in the torch cache (``./dev.sh`` installs them); nothing is
downloaded. On a digits demo project made in a temporary folder (``--pool`` images, 160 px):

- speed: one batch of ``--images`` images at ``INPUT_SIZE`` (160) px through each trunk,
  the resize and normalisation included (:func:`~al_core.query.embeddings.embed_batch`,
  what a query runs), median of ``--repeats`` after one warm-up batch, the two backbones
  taking turns so that both see the same load, and their paired ratio; the time to
  load each trunk (hash check included, imports not).
- agreement: linear CKA (Kornblith et al. 2019) between MobileNetV2's and
  EfficientNet-Lite0's embeddings of the same images, against a randomly initialised
  Lite0's and MobileNetV2's (what CKA gives without ImageNet weights). Converted weights
  that were wrong (a transposed kernel, a misnamed BatchNorm) would fall towards the
  random figure.
- typicality's cold start: the ``--k`` images each backbone's TypiClust picks on the
  unlabeled pool with seeds 0 .. ``--seeds`` - 1 (the embeddings computed once), how
  many digit classes a batch holds on average (from the demo's hidden ground truth),
  random batches' for scale, and how many picks the two backbones share.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from al_core.formats.images import load_image  # noqa: E402
from al_core.query import embeddings  # noqa: E402
from al_core.query.round import QuerySpec, run_query  # noqa: E402
from al_core.simulation.demo import DemoConfig, create_demo_project  # noqa: E402

NAMES = {"mobilenet_v2": "MobileNetV2", "efficientnet_lite0": "EfficientNet-Lite0"}


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two (n, d) representations of the same n inputs: 1 when one is an
    orthogonal transform and scaling of the other, near 0 when unrelated."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(x.T @ y) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def random_trunks():
    """A randomly initialised MobileNetV2 trunk and Lite0 trunk (seeded), in eval mode."""
    import torch
    from torchvision.models import mobilenet_v2

    from al_core.training.efficientnet_lite import EfficientNetLite0

    torch.manual_seed(0)
    return {"mobilenet_v2": mobilenet_v2(weights=None).features.eval(),
            "efficientnet_lite0": EfficientNetLite0().features.eval()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pool", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    import torch
    import torchvision  # noqa: F401  (imported before the trunks' load times are taken)

    torch.set_num_threads(args.threads)
    paths = {b: embeddings.weights_path(b) for b in embeddings.BACKBONES}
    missing = [b for b, p in paths.items() if p is None]
    if missing:
        print(f"missing in the torch cache: {', '.join(missing)} (./dev.sh installs them)")
        return 1
    print(f"torch {torch.__version__}, {args.threads} thread(s), input "
          f"{embeddings.INPUT_SIZE} px")
    with tempfile.TemporaryDirectory() as tmp:
        store = create_demo_project(Path(tmp) / "demo", DemoConfig(
            n_images=max(args.pool, args.images) + 10, test_size=10, seed=0))
        pool = [i.id for i in store.items() if i.split != "test"]
        images = [load_image(store.image_path(item))
                  for item in store.items(ids=pool[:args.images])]
        print(f"\n## speed: a batch of {len(images)} digits-demo images")
        trunks, loaded, runs, vectors = {}, {}, {b: [] for b in paths}, {}
        for backbone, path in paths.items():
            start = time.perf_counter()
            trunks[backbone] = embeddings.load_trunk(path, backbone)
            loaded[backbone] = time.perf_counter() - start
            embeddings.embed_batch(trunks[backbone], images)  # warm-up
        for _ in range(args.repeats):  # interleaved: both see the same load on shared cores
            for backbone, trunk in trunks.items():
                start = time.perf_counter()
                vectors[backbone] = embeddings.embed_batch(trunk, images)
                runs[backbone].append(time.perf_counter() - start)
        for backbone, trunk in trunks.items():
            median = statistics.median(runs[backbone])
            params = sum(p.numel() for p in trunk.parameters()) / 1e6
            print(f"{NAMES[backbone]:>18}: {median:.2f} s per batch ({len(images) / median:.0f} "
                  f"images/s; runs {', '.join(f'{r:.2f}' for r in runs[backbone])}), trunk "
                  f"{params:.2f} M parameters, loaded in {loaded[backbone]:.2f} s")
        ratio = [b / a for a, b in zip(runs["mobilenet_v2"], runs["efficientnet_lite0"])]
        print(f"Lite0 / MobileNetV2 time, paired runs: median {statistics.median(ratio):.2f} "
              f"({', '.join(f'{r:.2f}' for r in ratio)})")

        print(f"\n## agreement: linear CKA on the same {len(images)} images")
        lite, mobile = vectors["efficientnet_lite0"], vectors["mobilenet_v2"]
        randoms = {b: embeddings.embed_batch(t, images) for b, t in random_trunks().items()}
        print(f"EfficientNet-Lite0 vs MobileNetV2 (both ImageNet): {linear_cka(lite, mobile):.3f}")
        print(f"random Lite0 vs MobileNetV2 (ImageNet):           "
              f"{linear_cka(randoms['efficientnet_lite0'], mobile):.3f}")
        print(f"random MobileNetV2 vs Lite0 (ImageNet):           "
              f"{linear_cka(randoms['mobilenet_v2'], lite):.3f}")

        print(f"\n## typicality's cold start: {args.k} picks from {len(pool)} unlabeled "
              f"images, seeds 0-{args.seeds - 1}")
        truth = store.oracle_boxes(pool)
        classes = {i: {b.class_id for b in truth.get(i, [])} for i in pool}
        n_classes = len(set().union(*classes.values()))
        picks = {}
        for backbone in embeddings.BACKBONES:
            start, covered, empty = time.perf_counter(), [], 0
            for seed in range(args.seeds):
                sel = run_query(store, QuerySpec(
                    strategy="typicality", add=args.k, random_control=0, seed=seed,
                    tag=f"{backbone}-{seed}", include_pending=True,
                    options={"image_backbone": backbone}))
                chosen = [i.item_id for i in sel.items]
                picks.setdefault(backbone, set(chosen))
                covered.append(len(set().union(*(classes[i] for i in chosen))))
                empty += sum(not classes[i] for i in chosen)
            print(f"{NAMES[backbone]:>18}: {np.mean(covered):.1f} of {n_classes} digit "
                  f"classes per batch ({', '.join(map(str, covered))}), {empty} images "
                  f"without a digit in all; {time.perf_counter() - start:.1f} s "
                  f"({sel.config['features']}, embedding the pool included)")
        rng = np.random.default_rng(0)
        draws = [len(set().union(*(classes[i] for i in rng.choice(pool, args.k, replace=False))))
                 for _ in range(1000)]
        print(f"{'random':>18}: {np.mean(draws):.1f} of {n_classes} digit classes per batch "
              "(1000 draws)")
        shared = picks["mobilenet_v2"] & picks["efficientnet_lite0"]
        print(f"picks both backbones make (seed 0): {len(shared)} of {args.k}")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
