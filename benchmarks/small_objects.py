"""Does the default's first model learn on data unlike the demos? Dense small objects on
large photographs-like images, few labels: the case where a detector at the demo's
160-px input sees objects of 2 to 4 pixels and learns nothing.

    .venv/bin/python benchmarks/small_objects.py [--train 48] [--val 6] [--test 30]
        [--seed 7] [--project DIR] [--config JSON]

The dataset (made fresh, seed ``--seed``): images of 720 to 1280 pixels a side (four
sizes, not square), a smooth ground texture with roads, 15 to 60 objects each of three
classes: ``car`` (about 7 x 15 px), ``tree`` (discs of 10 to 18 px) and ``roof``
(squares of 18 to 30 px), none overlapping. It is written as a COCO file with an image
folder and imported as a user would (``import --images --coco``); ``--test`` images are
frozen as the test split, ``--train`` and ``--val`` are the rest. Then
``python -m al_core train --project P`` with no ``--config`` (the default, as a new user
runs it; ``--config`` to compare) is timed by the wall clock, and ``evaluate`` gives the
test mAP50 (the test split is never used for a choice).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = ((1024, 768), (800, 800), (1280, 720), (960, 960))
CLASSES = ("car", "tree", "roof")


def ground(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A smooth earth-and-grass texture with a few grey roads."""
    low = rng.random((h // 64 + 2, w // 64 + 2, 1)).astype(np.float32) \
        * np.array([1.0, 0.9, 0.6], np.float32)  # brighter and darker patches of earth
    base = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize(
        (w, h), Image.BICUBIC), np.float32) / 255.0
    tint = np.array([0.45, 0.5, 0.3], np.float32) + rng.normal(0, 0.05, 3).astype(np.float32)
    img = np.clip(tint * 0.7 + base * 0.3 + rng.normal(0, 0.04, (h, w, 3)), 0, 1)
    picture = Image.fromarray((img * 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.integers(1, 4)):
        grey = int(rng.integers(90, 140))
        if rng.random() < 0.5:
            y = int(rng.integers(0, h))
            draw.line([(0, y), (w, y + int(rng.integers(-h // 4, h // 4)))],
                      fill=(grey, grey, grey), width=int(rng.integers(14, 26)))
        else:
            x = int(rng.integers(0, w))
            draw.line([(x, 0), (x + int(rng.integers(-w // 4, w // 4)), h)],
                      fill=(grey, grey, grey), width=int(rng.integers(14, 26)))
    return picture.filter(ImageFilter.GaussianBlur(0.8))


def draw_object(draw: ImageDraw.ImageDraw, rng: np.random.Generator, kind: str,
                x: float, y: float) -> list[float]:
    """Draw one object centred near (x, y); its COCO box [x, y, w, h]."""
    if kind == "car":
        long, short = rng.uniform(13, 17), rng.uniform(6, 8)
        w, h = (long, short) if rng.random() < 0.5 else (short, long)
        colour = tuple(int(c) for c in rng.integers(30, 255, 3))
        draw.rectangle([x, y, x + w, y + h], fill=colour, outline=(20, 20, 20))
        if w > h:
            draw.rectangle([x + w * 0.35, y + 1, x + w * 0.6, y + h - 1], fill=(40, 50, 60))
        else:
            draw.rectangle([x + 1, y + h * 0.35, x + w - 1, y + h * 0.6], fill=(40, 50, 60))
    elif kind == "tree":
        w = h = rng.uniform(10, 18)
        g = int(rng.integers(60, 110))
        draw.ellipse([x, y, x + w, y + h], fill=(20, g, 25))
        draw.ellipse([x + w * 0.3, y + h * 0.25, x + w * 0.6, y + h * 0.55],
                     fill=(40, g + 40, 45))
    else:
        w = rng.uniform(18, 30)
        h = w * rng.uniform(0.8, 1.2)
        shade = (int(rng.integers(120, 200)), int(rng.integers(40, 90)), int(rng.integers(30, 70)))
        draw.rectangle([x, y, x + w, y + h], fill=shade, outline=(70, 30, 20))
        draw.line([(x, y + h / 2), (x + w, y + h / 2)], fill=(90, 40, 30), width=2)
    return [float(x), float(y), float(w), float(h)]


def make_dataset(folder: Path, n_images: int, seed: int) -> Path:
    """Write ``n_images`` images under ``folder/images`` and ``folder/instances.json``."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(n_images):
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        picture = ground(rng, w, h)
        draw = ImageDraw.Draw(picture)
        taken: list[tuple[float, float, float, float]] = []
        for _ in range(int(rng.integers(15, 61))):
            kind = CLASSES[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
            for _attempt in range(20):
                x, y = rng.uniform(4, w - 40), rng.uniform(4, h - 40)
                if all(x + 34 < a or a + c + 4 < x or y + 34 < b or b + d + 4 < y
                       for a, b, c, d in taken):
                    break
            else:
                continue
            box = draw_object(draw, rng, kind, x, y)
            taken.append(tuple(box))
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": CLASSES.index(kind) + 1, "bbox": box,
                                "area": box[2] * box[3], "iscrowd": 0})
        name = f"tile-{i:04d}.jpg"
        picture.save(folder / "images" / name, quality=90)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": k + 1, "name": c} for k, c in enumerate(CLASSES)]}
    path = folder / "instances.json"
    path.write_text(json.dumps(coco))
    return path


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "al_core", *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"al_core {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=48)
    parser.add_argument("--val", type=int, default=6)
    parser.add_argument("--test", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--project", type=Path, help="where to make it (default: a temp dir)")
    parser.add_argument("--config", help="a training override (JSON) instead of the default")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    project = args.project or work / "p"
    n = args.train + args.val + args.test
    coco = make_dataset(work / "data", n, args.seed)
    cli("import", "--project", str(project), "--images", str(work / "data" / "images"),
        "--coco", str(coco))

    from al_core.store import Store
    from al_core.training.split import freeze_test

    with Store(project) as store:
        ids = sorted(i.id for i in store.items())
        rng = np.random.default_rng(args.seed)
        order = rng.permutation(ids).tolist()
        splits = {i: "test" for i in order[:args.test]}
        splits.update({i: "val" for i in order[args.test:args.test + args.val]})
        splits.update({i: "train" for i in order[args.test + args.val:]})
        store.set_splits(splits)
        freeze_test(store)
    boxes = json.loads(coco.read_text())["annotations"]
    sides = np.array([min(b["bbox"][2], b["bbox"][3]) for b in boxes])
    print(f"{n} images ({args.train} train, {args.val} val, {args.test} test), "
          f"{len(boxes)} boxes, shorter side median {np.median(sides):.0f} px "
          f"(10th percentile {np.percentile(sides, 10):.0f})", flush=True)
    start = time.monotonic()
    out = cli("train", "--project", str(project),
              *(["--config", args.config] if args.config else []))
    wall = time.monotonic() - start
    print("\n".join(line for line in out.splitlines() if line.strip())[-1500:])
    model_id = max(m["id"] for m in json.loads(cli("models", "--project", str(project),
                                                   "--json")))
    result = json.loads(cli("evaluate", "--project", str(project), "--model", str(model_id),
                            "--json"))
    with Store(project) as store:
        config = store.model(model_id)["config"]
    keys = ("image_size", "epochs", "batch_size", "time_budget_s", "patience")
    print(f"config: {', '.join(f'{k} {config.get(k)}' for k in keys)}")
    print(f"training wall {wall:.0f} s; test mAP50 {result['map']:.3f} ({project})")
    if not math.isfinite(result["map"]):
        raise SystemExit("no test mAP50")


if __name__ == "__main__":
    main()
