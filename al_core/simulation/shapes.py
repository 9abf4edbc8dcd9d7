"""The second built-in demo, ``shapes``: eight classes of geometric icons on natural
photographs (scikit-learn's bundled ``load_sample_images``: a temple and a flower, no
download), built to differ from the digits demo (:mod:`al_core.simulation.demo`) in what matters to
a detector:

- objects: circle, square, triangle, star, cross, ring, arrow and heart, filled or
  outlined, turned by up to 45 degrees (arrows any way), aspect 0.7-1.4, their longer side
  log-uniform in 8-90 px on 192 px scenes (digits: 14-44 px glyphs turned by up to 15
  degrees on 160 px): a box's longer side is 6-134 px, median ~29, a quarter under 16;
- backgrounds: random crops of the photographs, rescaled and recoloured: natural texture
  where the digits have smooth gradients;
- clutter: hard negatives drawn exactly like the objects but of kinds that are no class
  (hexagons, crescents, open arcs, blobs, thick strokes);
- occlusion: objects and clutter are drawn in random order and may overlap. A box is the
  whole object (amodal), not its visible part; an object more than ``MAX_COVERED`` (60%)
  of whose pixels are drawn over by later objects or clutter is dropped from the ground
  truth (it stays in the picture, as a mostly hidden object stays unlabeled in practice);
- class balance: uniform (``class_skew`` 0) where the digits have a 10:1 long tail; each
  object's class is drawn on its own (no scene themes);
- objects per image: 0-14, mean about 5.5 (digits: 1-6, mean 3.5); each scene draws its
  own density (Poisson with a mean scaled by U(0.25, 1.75)), so crowded and sparse
  scenes both occur. A third of the objects kept are partly covered; 6-7% of those drawn
  are dropped by the occlusion rule.

Scene ``i`` of seed ``s`` depends only on ``(s, i)``. Test scenes use held-out material:
the right-most ``HELD_OUT_COLUMNS`` columns of each photograph (training scenes crop only
left of them) and every fifth of each class's ``N_VARIANTS`` shape variants (proportions,
aspect, fill style), so the frozen test split measures generalisation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from al_core.types import Box, LabeledBox, brief, check_int, check_number

SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross", "ring", "arrow", "heart")
CLUTTER_KINDS = ("hexagon", "crescent", "arc", "blob", "stroke")  # hard negatives, no class
MAX_COVERED = 0.6  # an object with more of its pixels drawn over is not in the ground truth
N_VARIANTS = 40  # shape variants per class; variant v is held out for test when v % 5 == 0
HELD_OUT_COLUMNS = 200  # of each 640-column photograph, for test backgrounds only
CROP_PX = (80, 200)  # a background is a square crop of this many photo pixels, rescaled
MAX_SHAPES_IMAGES = 1_000_000
_OUTLINED_SHARE = {"square": 0.35, "triangle": 0.35, "star": 0.3, "cross": 0.3,
                   "arrow": 0.3, "heart": 0.3, "ring": 1.0, "circle": 0.0,
                   "hexagon": 0.5, "crescent": 0.0, "arc": 1.0, "blob": 0.2, "stroke": 1.0}
MAX_TILT = np.pi / 4  # objects turn by up to 45 degrees either way; arrows and clutter any way
_ANY_ROTATION = {"arrow", *CLUTTER_KINDS}
_SUPERSAMPLE = 4  # masks are drawn this many times larger, then averaged (anti-aliasing)
_VARIANT_SEED = 7919  # the variants are the same for every seed: they are the "material"


@dataclass(frozen=True)
class ShapesConfig:
    n_images: int = 2000
    test_size: int = 300
    image_size: int = 192
    max_objects: int = 14
    mean_objects: float = 6.0  # the Poisson mean of objects drawn, before occlusion drops
    min_object_px: int = 8  # an object's longer side before rotation
    max_object_px: int = 90
    class_skew: float = 0.0  # class k is drawn with weight 1 / (k + 1) ** class_skew
    max_clutter: int = 8  # hard negatives per scene: 0 to this many
    empty_share: float = 0.0  # scenes with no object at all, decided by a stream of their own
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse a bad option before any file is written, naming it and its range."""
        for name, low, high in (("n_images", 1, MAX_SHAPES_IMAGES), ("image_size", 32, 1024),
                                ("max_objects", 0, 50), ("max_clutter", 0, 50),
                                ("seed", 0, 2 ** 32 - 1)):
            check_int(name, getattr(self, name), low, high)
        if not (_is_int(self.test_size) and 0 <= self.test_size <= self.n_images):
            raise ValueError(f"test_size: {brief(self.test_size)} is out of range (it must "
                             f"be an integer from 0 to n_images, {self.n_images:,})")
        if not (_is_int(self.min_object_px) and _is_int(self.max_object_px)
                and 4 <= self.min_object_px <= self.max_object_px <= self.image_size // 2):
            raise ValueError(f"min_object_px {brief(self.min_object_px)} and max_object_px "
                             f"{brief(self.max_object_px)}: they must be integers with 4 <= "
                             f"min <= max <= image_size / 2 ({self.image_size // 2})")
        for name, low, high, upper_open in (("mean_objects", 0, 50, False),
                                            ("class_skew", 0, 10, False),
                                            ("empty_share", 0, 1, True)):
            check_number(name, getattr(self, name), low, high, upper_open=upper_open)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Material:
    """What scenes are drawn from: photographs (uint8, (H, W, 3)) and each class's shape
    variants (dicts of aspect, shape, outlined, thickness)."""

    photos: tuple[np.ndarray, ...]
    variants: tuple[tuple[tuple[int, dict], ...], ...]  # per class: (variant index, params)


@dataclass(frozen=True)
class Drawn:
    """One object or piece of clutter as drawn: ``mask`` (bool, (h, w)) lies at ``(y0, x0)``;
    ``box`` is tight around the whole mask; ``covered`` is the share of its pixels drawn over
    by later ones."""

    class_id: int | None  # None: clutter
    variant: int | None
    box: Box
    covered: float
    y0: int
    x0: int
    mask: np.ndarray


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (S, S, 3) uint8
    background: np.ndarray  # (S, S, 3) float in [0, 1], before anything was drawn
    drawn: tuple[Drawn, ...]  # in drawing order

    def ground_truth(self) -> list[LabeledBox]:
        return [LabeledBox(d.class_id, d.box) for d in self.drawn
                if d.class_id is not None and d.covered <= MAX_COVERED]


def class_weights(skew: float) -> np.ndarray:
    """Class probabilities, 1 / (k + 1) ** skew normalised: uniform at skew 0."""
    w = 1.0 / np.arange(1, len(SHAPE_NAMES) + 1) ** skew  # (8,)
    return w / w.sum()


def scene_material(test: bool) -> Material:
    """The held-out material for test scenes, the rest for the others."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images  # 2 x (427, 640, 3) uint8, bundled
    cut = [p.shape[1] - HELD_OUT_COLUMNS for p in photos]
    photos = tuple(p[:, c:] if test else p[:, :c] for p, c in zip(photos, cut))
    variants = tuple(tuple((v, params) for v, params in enumerate(shape_variants(k))
                           if (v % 5 == 0) == test) for k in range(len(SHAPE_NAMES)))
    return Material(photos, variants)


def shape_variants(class_id: int) -> list[dict]:
    """The class's ``N_VARIANTS`` variants, the same for every seed."""
    kind = SHAPE_NAMES[class_id]
    rng = np.random.default_rng([_VARIANT_SEED, class_id])
    return [_params(rng, kind) for _ in range(N_VARIANTS)]


def _params(rng: np.random.Generator, kind: str) -> dict:
    return {"kind": kind, "aspect": float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
            "shape": float(rng.uniform(0, 1)), "thickness": float(rng.uniform(0.2, 0.35)),
            "outlined": bool(rng.random() < _OUTLINED_SHARE[kind])}


def _unit_points(kind: str, shape: float) -> np.ndarray:
    """The kind's outline in unit coordinates (within [-1, 1]), (P, 2) as (x, y); ``shape``
    in [0, 1] sets its proportions (a star's inner radius, an arrow's head...)."""
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if kind in ("circle", "ring", "crescent"):
        return np.c_[np.cos(t), np.sin(t)]
    if kind == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
    if kind == "triangle":
        return np.array([[-1, 1], [1, 1], [-0.7 + 1.4 * shape, -1]], float)
    if kind in ("star", "hexagon"):
        n, inner = (5, 0.35 + 0.25 * shape) if kind == "star" else (6, 1.0)
        a = -np.pi / 2 + np.arange(2 * n) * np.pi / n
        r = np.where(np.arange(2 * n) % 2 == 0, 1.0, inner)
        return np.c_[r * np.cos(a), r * np.sin(a)]
    if kind == "cross":
        w = 0.2 + 0.2 * shape
        return np.array([[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1], [-w, 1],
                         [-w, w], [-1, w], [-1, -w], [-w, -w]])
    if kind == "arrow":
        w, head = 0.15 + 0.15 * shape, 0.4 - 0.5 * shape
        return np.array([[-1, -w], [head, -w], [head, -0.8], [1, 0], [head, 0.8], [head, w],
                         [-1, w]])
    if kind == "heart":
        x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t)
                                      - np.cos(4 * t))
        return np.c_[x / 17, (y + 2.5) / 14.5]
    if kind == "arc":  # an open arc of 120-270 degrees
        s = np.linspace(0, (2 / 3 + 0.83 * shape) * np.pi, 32)
        return np.c_[np.cos(s), np.sin(s)]
    if kind == "blob":
        phase = 2 * np.pi * shape * np.arange(1, 4)
        r = 1 + sum(0.25 * np.cos(k * t + p) for k, p in zip((2, 3, 5), phase))
        return np.c_[r * np.cos(t), r * np.sin(t)] / 1.3
    if kind == "stroke":  # a slightly bent thick line
        s = np.linspace(-1, 1, 16)
        return np.c_[s, (shape - 0.5) * (1 - s ** 2)]
    raise ValueError(f"unknown shape kind {kind!r}")


def rasterise(params: dict, size: float, angle: float) -> np.ndarray:
    """The shape's alpha mask in [0, 1], (h, w), tight around it plus a pixel of margin;
    ``size`` is its longer side in pixels before the rotation by ``angle`` radians."""
    kind = params["kind"]
    pts = _unit_points(kind, params["shape"]) * [params["aspect"], 1.0]  # (P, 2)
    pts -= (pts.min(0) + pts.max(0)) / 2
    pts *= size / 2 / np.abs(pts).max()
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = pts @ rot.T
    outlined = params["outlined"]
    width = max(1.5, params["thickness"] * size * 0.5)
    margin = width / 2 + 1 if outlined else 1
    lo = pts.min(0) - margin
    extent = np.ceil(pts.max(0) + margin - lo).astype(int)  # (2,) as (w, h)
    canvas = Image.new("L", tuple(extent * _SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(canvas)
    xy = [tuple(p) for p in (pts - lo) * _SUPERSAMPLE]
    if kind in ("arc", "stroke"):
        draw.line(xy, fill=255, width=round(width * _SUPERSAMPLE), joint="curve")
    elif outlined:
        draw.line(xy + [xy[0]], fill=255, width=round(width * _SUPERSAMPLE), joint="curve")
    else:
        draw.polygon(xy, fill=255)
    if kind == "crescent":  # the disk less a shifted disk
        shift = np.array([0.35 + 0.3 * params["shape"], 0]) @ rot.T * size / 2
        draw.polygon([tuple(p) for p in (pts + shift - lo) * _SUPERSAMPLE], fill=0)
    small = canvas.resize(tuple(extent), Image.BOX)
    return np.asarray(small, dtype=np.float64) / 255.0


def _background(rng: np.random.Generator, photos: tuple[np.ndarray, ...], size: int
                ) -> np.ndarray:
    """A random square crop of a photograph, rescaled to ``size``, turned and recoloured."""
    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    c = int(rng.integers(CROP_PX[0], min(h, w, CROP_PX[1]) + 1))
    y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
    crop = Image.fromarray(photo[y:y + c, x:x + c]).resize((size, size), Image.BILINEAR)
    img = np.rot90(np.asarray(crop, dtype=np.float64) / 255.0, int(rng.integers(4)))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = img[..., rng.permutation(3)]  # (S, S, 3)
    gray = img.mean(-1, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.3, 1.3)
    img = (img - 0.5) * rng.uniform(0.6, 1.2) + 0.5 + rng.uniform(-0.15, 0.15)
    return np.clip(img + rng.normal(0, rng.uniform(0.005, 0.03), img.shape), 0, 1)


def _paint(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, y0: int, x0: int
           ) -> None:
    """Paint a mask in a colour that stands out from what is under it, lightly shaded."""
    h, w = alpha.shape
    patch = img[y0:y0 + h, x0:x0 + w]
    under = float(patch[alpha > 0.3].mean())
    color = np.full(3, 0.0 if under > 0.5 else 1.0)
    for _ in range(20):
        c = rng.uniform(0, 1, 3)
        if abs(c.mean() - under) > 0.3:
            color = c
            break
    d = rng.normal(size=2)
    ramp = (np.mgrid[0:h, 0:w] * (d / np.linalg.norm(d) / max(h, w))[:, None, None]).sum(0)
    shade = color * (1 + rng.uniform(0, 0.3) * (ramp - ramp.mean()))[..., None]  # (h, w, 3)
    a = (alpha * rng.uniform(0.85, 1.0))[..., None]
    patch[:] = patch * (1 - a) + np.clip(shade, 0, 1) * a


def compose_scene(index: int, config: ShapesConfig, material: Material) -> Scene:
    """Scene ``index``: objects and clutter drawn in random order on a photo crop."""
    rng = np.random.default_rng([config.seed, index])
    size = config.image_size
    img = _background(rng, material.photos, size)
    background = img.copy()
    n = min(config.max_objects, int(rng.poisson(config.mean_objects * rng.uniform(0.25, 1.75))))
    if np.random.default_rng([config.seed, index, 1]).random() < config.empty_share:
        n = 0
    classes = rng.choice(len(SHAPE_NAMES), size=n, p=class_weights(config.class_skew))
    things: list[tuple[int | None, int | None, dict]] = []
    for k in classes:
        v, params = material.variants[k][int(rng.integers(len(material.variants[k])))]
        things.append((int(k), v, params))
    for _ in range(int(rng.integers(0, config.max_clutter + 1))):
        things.append((None, None, _params(rng, str(rng.choice(CLUTTER_KINDS)))))
    placed = []
    for t in rng.permutation(len(things)):
        class_id, variant, params = things[t]
        px = float(np.exp(rng.uniform(np.log(config.min_object_px),
                                      np.log(config.max_object_px))))
        turn = np.pi if params["kind"] in _ANY_ROTATION else MAX_TILT
        alpha = rasterise(params, px, float(rng.uniform(-turn, turn)))
        h, w = alpha.shape
        y0, x0 = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        _paint(rng, img, alpha, y0, x0)
        placed.append((class_id, variant, y0, x0, alpha > 0.3))
    return Scene((np.clip(img, 0, 1) * 255).astype(np.uint8), background,
                 _with_coverage(placed, size))


def _with_coverage(placed: list, size: int) -> tuple[Drawn, ...]:
    """Each drawn mask's box and the share of it that later masks cover."""
    cover = np.zeros((size, size), bool)
    drawn = []
    for class_id, variant, y0, x0, mask in reversed(placed):
        h, w = mask.shape
        region = cover[y0:y0 + h, x0:x0 + w]
        covered = float(region[mask].mean()) if mask.any() else 1.0
        region |= mask
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        box = Box(float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1),
                  float(y0 + ys.max() + 1))
        drawn.append(Drawn(class_id, variant, box, covered, y0, x0, mask))
    return tuple(reversed(drawn))


def render_scene(index: int, config: ShapesConfig, material: Material
                 ) -> tuple[Image.Image, list[LabeledBox]]:
    """One scene and its ground truth: class indices 0-7 into ``SHAPE_NAMES``, boxes
    ``[x1, y1, x2, y2]`` in pixels around each whole object covered at most MAX_COVERED."""
    scene = compose_scene(index, config, material)
    return Image.fromarray(scene.image), scene.ground_truth()
