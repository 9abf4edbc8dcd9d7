"""The built-in demo: real handwritten digits (scikit-learn's bundled ``load_digits``,
no download) composed into detection scenes with clutter and a long-tailed class mix.

Scene ``i`` of seed ``s`` depends only on ``(s, i)``: generation is deterministic and
can be resumed. Test scenes are drawn from a held-out fifth of the handwritten glyphs,
so the frozen test split measures generalisation to unseen handwriting.
The ground truth goes to the store's hidden oracle, not to the labels.

A demo project is of one of ``DEMO_KINDS``: ``digits`` (this module, ``DemoConfig``) or
``shapes`` (icons on photographs with occlusion and hard negatives,
:mod:`al_core.simulation.shapes`, ``ShapesConfig``); ``create_demo_project`` makes either.
"""
from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from al_core.formats.staging import staged_folder
from al_core.store import DB_NAME, Store
from al_core.training.split import freeze_test
from al_core.types import Box, LabeledBox, brief, check_int, check_number

if TYPE_CHECKING:
    from al_core.simulation.shapes import ShapesConfig

log = logging.getLogger(__name__)

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
Progress = Callable[[int, int, str], None]


MAX_DEMO_IMAGES = 1_000_000  # ~10 GB of scenes: past that a demo only fills the disk
DEMO_KINDS = ("digits", "shapes")


@dataclass(frozen=True)
class DemoConfig:
    n_images: int = 2000
    test_size: int = 300
    image_size: int = 160
    max_digits: int = 6
    min_digit_px: int = 14
    max_digit_px: int = 44
    class_skew: float = 1.0  # class k is drawn with weight 1 / (rank_k + 1) ** class_skew
    # Objects of a kind come together (a flock, a car park): each scene has a theme class,
    # drawn like any digit, and each digit is the theme with this probability, else drawn
    # on its own. The class frequencies stay class_weights(); only co-occurrence changes.
    # 0.5 gives 1.6 digits per class present in a scene, as PASCAL VOC's 2.3 objects of
    # 1.4 classes per image (COCO: 7.7 of 3.5); 0 draws digits independently, giving 1.3
    # (not the scenes of demos made before themes: the theme draw shifts the stream).
    theme_share: float = 0.5
    # Scenes with no digit at all, only background and clutter, as the frames of a raw
    # pool where nothing of interest is in view. Decided by a stream of their own, so
    # the other scenes are the same as with 0.
    empty_share: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse a bad option before any file is written, naming it and its range."""
        for name, low, high in (("n_images", 1, MAX_DEMO_IMAGES), ("image_size", 32, 1024),
                                ("max_digits", 0, 20), ("seed", 0, 2 ** 32 - 1)):
            check_int(name, getattr(self, name), low, high)
        if not (isinstance(self.test_size, int) and 0 <= self.test_size <= self.n_images):
            raise ValueError(f"test_size: {brief(self.test_size)} is out of range (it must "
                             f"be an integer from 0 to n_images, {self.n_images:,})")
        if not (isinstance(self.min_digit_px, int) and isinstance(self.max_digit_px, int)
                and 4 <= self.min_digit_px <= self.max_digit_px <= self.image_size):
            raise ValueError(f"min_digit_px {brief(self.min_digit_px)} and max_digit_px "
                             f"{brief(self.max_digit_px)}: they must be integers with 4 <= "
                             f"min <= max <= image_size ({self.image_size})")
        for name, low, high, upper_open in (("class_skew", 0, 10, False),
                                            ("theme_share", 0, 1, False),
                                            ("empty_share", 0, 1, True)):
            check_number(name, getattr(self, name), low, high, upper_open=upper_open)


def demo_config(kind: str = "digits", **options) -> DemoConfig | ShapesConfig:
    """The config of a demo of ``kind`` (one of ``DEMO_KINDS``) with ``options`` (the
    fields both kinds have: n_images, test_size, empty_share, seed, ...)."""
    if kind == "digits":
        return DemoConfig(**options)
    if kind == "shapes":
        from al_core.simulation.shapes import ShapesConfig

        return ShapesConfig(**options)
    raise ValueError(f"demo kind: {brief(kind)} is not one of {', '.join(DEMO_KINDS)}")


def _generator(config) -> tuple[tuple[str, ...], Callable, Callable[[bool], object]]:
    """The class names, the scene renderer and the material loader (test or not) of the
    config's kind. Looked up when called, so a test can replace ``render_scene``."""
    from al_core.simulation import shapes as shapes_demo

    if isinstance(config, DemoConfig):
        return DIGIT_NAMES, render_scene, lambda test: _glyph_pools(test=test)
    if isinstance(config, shapes_demo.ShapesConfig):
        return shapes_demo.SHAPE_NAMES, shapes_demo.render_scene, shapes_demo.scene_material
    raise TypeError(f"not a demo config: {brief(config)}")


def class_weights(skew: float) -> np.ndarray:
    """Long-tailed class probabilities; the common-to-rare order is fixed (0 most common)."""
    w = 1.0 / np.arange(1, len(DIGIT_NAMES) + 1) ** skew  # (10,)
    return w / w.sum()


def scene_classes(rng: np.random.Generator, n: int, weights: np.ndarray,
                  theme_share: float) -> list[int]:
    """The classes of a scene's ``n`` digits: each is the scene's theme class with
    probability ``theme_share``, else drawn by ``weights``; either way its marginal
    distribution is ``weights``."""
    theme = int(rng.choice(len(weights), p=weights))
    return [theme if rng.random() < theme_share else int(rng.choice(len(weights), p=weights))
            for _ in range(n)]


def _glyph_pools(test: bool) -> list[np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    held_out = np.arange(len(digits.target)) % 5 == 0
    keep = held_out if test else ~held_out
    images, targets = digits.images[keep] / 16.0, digits.target[keep]  # (M, 8, 8), (M,)
    return [images[targets == k] for k in range(len(DIGIT_NAMES))]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    t = np.linspace(0, 1, size)[None, :, None]
    if rng.random() < 0.5:
        t = t.transpose(1, 0, 2)
    img = a * (1 - t) + b * t  # (S, S, 3) or (S, 1, 3) broadcast below
    img = np.broadcast_to(img, (size, size, 3)).copy()
    img += rng.normal(0, rng.uniform(0.01, 0.06), img.shape)
    return img


def _clutter(rng: np.random.Generator, img: np.ndarray) -> None:
    """Strokes and blobs that look a little like digits but are not."""
    size = img.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(rng.integers(2, 9)):
        color, alpha = rng.uniform(0, 1, 3), rng.uniform(0.25, 0.7)
        if rng.random() < 0.5:  # a line segment of random width
            p, q = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
            d = q - p
            t = np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / max(d @ d, 1e-6), 0, 1)
            dist = np.hypot(xx - p[0] - t * d[0], yy - p[1] - t * d[1])
            mask = dist < rng.uniform(0.7, 2.5)
        else:  # an ellipse ring
            c, r = rng.uniform(0, size, 2), rng.uniform(3, 18, 2)
            rad = np.hypot((xx - c[0]) / r[0], (yy - c[1]) / r[1])
            mask = np.abs(rad - 1) < rng.uniform(0.08, 0.3)
        img[mask] = img[mask] * (1 - alpha) + color * alpha


def _digit_color(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A colour whose luminance differs clearly from the patch it is drawn on."""
    lum = float(under.mean())
    for _ in range(20):
        color = rng.uniform(0, 1, 3)
        if abs(color.mean() - lum) > 0.3:
            return color
    return np.full(3, 0.0 if lum > 0.5 else 1.0)


def _iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def render_scene(index: int, config: DemoConfig, pools: list[np.ndarray]
                 ) -> tuple[Image.Image, list[LabeledBox]]:
    """One scene; boxes carry class indices 0-9 and are tight around the visible ink."""
    rng = np.random.default_rng([config.seed, index])
    size = config.image_size
    img = _background(rng, size)
    _clutter(rng, img)
    weights = class_weights(config.class_skew)
    placed: list[tuple[float, float, float, float]] = []
    labels: list[LabeledBox] = []
    n = int(rng.integers(1, config.max_digits + 1))
    if np.random.default_rng([config.seed, index, 1]).random() < config.empty_share:
        n = 0
    for k in scene_classes(rng, n, weights, config.theme_share):
        glyph = pools[k][rng.integers(len(pools[k]))]  # (8, 8) in [0, 1]
        h = int(rng.integers(config.min_digit_px, config.max_digit_px + 1))
        w = max(6, int(h * rng.uniform(0.7, 1.1)))
        glyph_img = Image.fromarray((glyph * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        glyph_img = glyph_img.rotate(float(rng.uniform(-15, 15)), Image.BILINEAR, expand=True)
        alpha = np.asarray(glyph_img, dtype=np.float64) / 255.0  # (h', w')
        ys, xs = np.nonzero(alpha > 0.3)
        if len(xs) == 0:
            continue
        gh, gw = alpha.shape
        for _attempt in range(30):
            x0, y0 = int(rng.integers(0, size - gw + 1)), int(rng.integers(0, size - gh + 1))
            tight = (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1.0, y0 + ys.max() + 1.0)
            if all(_iou(tight, p) < 0.05 for p in placed):
                break
        else:
            continue
        patch = img[y0:y0 + gh, x0:x0 + gw]
        a = (alpha * rng.uniform(0.8, 1.0))[..., None]
        patch[:] = patch * (1 - a) + _digit_color(rng, patch) * a
        placed.append(tight)
        labels.append(LabeledBox(k, Box(*map(float, tight))))
    pixels = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(pixels), labels


def create_demo_project(project_dir: str | Path,
                        config: DemoConfig | ShapesConfig = DemoConfig(), *,
                        progress: Progress | None = None) -> Store:
    """Generate the scenes of ``config`` (a ``DemoConfig``, or a ``ShapesConfig`` for the
    shapes demo) into a new project: images in ``images/demo/``, ground truth in the
    hidden oracle, ``config.test_size`` items labeled from it and frozen as test.

    The project is built in a staging folder beside ``project_dir`` and moved into place
    when complete, so an interrupted run leaves no half-made project behind."""
    target = Path(project_dir).resolve()
    if (target / DB_NAME).exists():
        with Store(target) as existing:
            raise ValueError(f"{target} already holds {existing.count_items()} items; the "
                             "demo needs an empty project")
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} is not empty; the demo needs a new or empty folder")
    _generator(config)  # refuse what is no demo config before any file is written
    with staged_folder(target) as staging, Store(staging, create=True) as store:
        _fill_demo(store, config, progress)
    log.info("demo project %s: %d images, %d test", target, config.n_images, config.test_size)
    return Store(target)


def _fill_demo(store: Store, config: DemoConfig | ShapesConfig,
               progress: Progress | None) -> None:
    rng = np.random.default_rng(config.seed)
    test_index = set(rng.choice(config.n_images, config.test_size, replace=False).tolist())
    names, render, material = _generator(config)
    pools = {True: material(True), False: material(False)}
    (store.images_dir / "demo").mkdir(parents=True, exist_ok=True)
    class_ids = store.ensure_classes(names)
    test_ids: list[int] = []
    with store.write():
        for i in range(config.n_images):
            image, boxes = render(i, config, pools[i in test_index])
            buf = io.BytesIO()
            image.save(buf, format="PNG", compress_level=1)
            rel = f"demo/{i:05d}.png"
            (store.images_dir / rel).write_bytes(buf.getvalue())
            item_id = store.add_item(file=rel, width=image.width, height=image.height,
                                     sha256=hashlib.sha256(buf.getvalue()).hexdigest(),
                                     source="demo")
            store.add_oracle_boxes(item_id, [
                LabeledBox(class_ids[names[b.class_id]], b.box) for b in boxes])
            if i in test_index:
                test_ids.append(item_id)
            if progress and (i % 50 == 0 or i == config.n_images - 1):
                progress(i + 1, config.n_images, "rendering scenes")
        store.label_from_oracle(test_ids, round=0)
        store.set_splits({i: "test" for i in test_ids})
        freeze_test(store)
        store.set_meta("demo_config", repr(config))


def label_from_oracle_at_random(store: Store, n: int, *, seed: int = 0) -> list[int]:
    """Label ``n`` unlabeled pool items, chosen at random, from the hidden oracle. Team
    mode: anyone signed in may (``label``, as the demo's oracle labels do)."""
    store.authorize("label")
    if n < 0:
        raise ValueError(f"the number of items to label must be >= 0, got {n}")
    if not store.has_oracle():
        raise ValueError("this project has no oracle (ground truth); only the demo has one")
    pool = [item.id for item in store.items(status="unlabeled")]
    if n > len(pool):
        raise ValueError(f"asked to label {n} items but only {len(pool)} are unlabeled")
    chosen = sorted(np.random.default_rng(seed).choice(pool, n, replace=False).tolist())
    with store.write():
        store.label_from_oracle(chosen, round=0)
        store.audit("label.oracle", object_type="project",
                    summary=f"labeled {n} random pool images from the oracle (seed {seed})",
                    after={"labeled": n, "seed": seed})
    return chosen
