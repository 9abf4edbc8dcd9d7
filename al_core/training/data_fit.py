"""Training defaults that fit the data: the first model of a project chooses its input
size, batch size, training length and time budget from its labeled boxes and images
instead of the demo's constants, and says what it chose and why. No torch here.

Why each choice (the compact detector, :mod:`al_core.training.compact`, finds an object
as a peak of a heatmap at stride 4):

- ``image_size``: images are letterboxed so their longer side is ``image_size``. At the
  demo's 160 px, an object of 10 px on a 1,000-px photograph becomes 1.6 px, under one
  heatmap cell: the detector cannot see it and learns nothing (measured: test mAP50
  0.000 on dense small objects, ``benchmarks/small_objects.py``; BENCHMARKS.md). The fit
  takes the size at which the smaller boxes (the 25th percentile of their shorter sides)
  reach :data:`MIN_SIDE_PX`, from 160 (the default) up to :data:`MAX_SIZE`, not past
  the images' own longer side (rounded up to 32; never below the default 160), and lower
  if the training set would not fit in memory.
- ``batch_size``: a few dozen images in batches of 32 make 2 optimizer steps an epoch;
  the fit keeps at least :data:`MIN_STEPS_PER_EPOCH` (batches of 4 to 32).
- ``epochs``: at least the demo's number of optimizer steps (:data:`MIN_STEPS`, 25 epochs
  of 444 images in batches of 32), so a small project trains as long in steps.
- ``patience``: scaled with the epochs (the default's 5 of 25), so that the val plateau
  stop, on a handful of validation images, does not end a longer training early.
- ``time_budget_s``: whenever any of these differs from the default, a budget of
  :data:`BUDGET_S` keeps the first training within the 3-minute default however large
  the input (the learning rate anneals to 0 by then; :mod:`al_core.training.loop`).

Later models clone the active model's config (Create New Model), so the fit is made
once; a key the user sets in the override always wins.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from al_core.training.config import TrainConfig, merge_config

MIN_SIDE_PX = 8  # a box's shorter side at the input: two cells of the stride-4 heatmap
UNSEEN_PX = 4  # under one heatmap cell: the detector cannot tell it apart
UNSEEN_WARN_SHARE = 0.1  # warn when this share of the boxes is under UNSEEN_PX
SMALL_QUANTILE = 25  # the percentile of the boxes' shorter sides that must reach MIN_SIDE_PX
MAX_SIZE = 640  # the largest input the fit chooses: 16x the pixels of 160, per image
MIN_STEPS_PER_EPOCH = 6
MIN_STEPS = 350  # the demo's default: 25 epochs x 14 batches of 32 (444 train images)
MAX_EPOCHS = 400
# the training loop's share of the 3-minute default: starting the job, loading large
# images and the checkpoint take the rest (at 170 s the whole command took 197 s, loaded)
BUDGET_S = 150.0


@dataclass(frozen=True)
class BoxStats:
    """What the fit reads from a project's labeled train and val images: the shorter
    side of every box in image pixels ``(B,)``, the longer side of each box's image
    ``(B,)``, the longer side of every labeled image ``(N,)`` and the train image count."""

    box_short: np.ndarray
    box_image_long: np.ndarray
    image_long: np.ndarray
    n_train: int


@dataclass(frozen=True)
class DataFit:
    """The fitted keys (an override of :class:`TrainConfig`), one reason per key, and a
    one-line warning or None."""

    override: dict
    reasons: list[str] = field(default_factory=list)
    warning: str | None = None

    def as_dict(self) -> dict:
        return {"chose": self.override, "reasons": self.reasons, "warning": self.warning}


def fit_config(stats: BoxStats, *, base: TrainConfig | None = None,
               fits: "callable | None" = None, fixed: frozenset[str] = frozenset()
               ) -> DataFit:
    """The keys of ``base`` (default :class:`TrainConfig`) that the data asks to change,
    with the reasons. ``fixed``: keys the user set; they keep ``base``'s value and the
    other keys are fitted around them (a user's batch size sets the epochs' steps).
    ``fits(image_size, batch_size) -> bool`` says whether training would fit in memory
    (:func:`al_core.training.memory_fit.check_fits`); the input size is lowered in steps
    of 32 until it does. Without boxes nothing changes."""
    base = base or TrainConfig()
    n_boxes = len(stats.box_short)
    if n_boxes == 0 or stats.n_train == 0:
        return DataFit({}, ["no labeled boxes in train yet: the defaults are kept"])
    override: dict = {}
    reasons: list[str] = []
    # input size: where the smaller boxes reach MIN_SIDE_PX
    short = np.maximum(np.asarray(stats.box_short, np.float64), 1e-3)
    ratio = short / np.asarray(stats.box_image_long, np.float64)  # side / image side
    small = float(np.percentile(ratio, SMALL_QUANTILE))
    wanted = MIN_SIDE_PX / small
    native = float(np.max(stats.image_long)) if len(stats.image_long) else wanted
    size = int(min(MAX_SIZE, _round_up(min(wanted, native), 32)))
    size = base.image_size if "image_size" in fixed else max(size, base.image_size)
    batch = base.batch_size if "batch_size" in fixed else \
        _batch_size(stats.n_train, base.batch_size)
    while fits is not None and size > base.image_size and not fits(size, batch):
        size -= 32
    at = lambda s: float(np.percentile(ratio * s, SMALL_QUANTILE))  # noqa: E731
    if size != base.image_size:
        override["image_size"] = size
        reasons.append(
            f"image_size {size}: a quarter of the boxes have a shorter side under "
            f"{at(base.image_size):.1f} px at the default {base.image_size}, "
            f"{at(size):.1f} px at {size}"
            + (f" (the detector needs about {MIN_SIDE_PX})" if at(size) < MIN_SIDE_PX
               else f" (at least {MIN_SIDE_PX} keeps them visible to the detector)"))
    if batch != base.batch_size:
        override["batch_size"] = batch
        reasons.append(f"batch_size {batch}: {stats.n_train} train images make "
                       f"{_steps(math.ceil(stats.n_train / base.batch_size))} an epoch in "
                       f"batches of {base.batch_size}, "
                       f"{math.ceil(stats.n_train / batch)} in batches of {batch}")
    steps = math.ceil(stats.n_train / batch)
    epochs = base.epochs if "epochs" in fixed else \
        min(MAX_EPOCHS, max(base.epochs, math.ceil(MIN_STEPS / steps)))
    if epochs != base.epochs:
        override["epochs"] = epochs
        reasons.append(f"epochs {epochs}: {epochs} x {_steps(steps)} reach the "
                       f"{MIN_STEPS} optimizer steps the default makes on the demo")
        patience = round(base.patience * epochs / base.epochs)
        if base.patience and "patience" not in fixed and patience != base.patience:
            override["patience"] = patience
            reasons.append(f"patience {patience}: the same share of the epochs as the "
                           f"default's {base.patience} of {base.epochs} (a few validation "
                           "images make val mAP50 jump; a short patience stopped early)")
    if override and base.time_budget_s is None and "time_budget_s" not in fixed:
        override["time_budget_s"] = BUDGET_S
        reasons.append(f"time_budget_s {BUDGET_S:g}: training ends (its learning rate "
                       "annealed) within the 3-minute default")
    warning = None
    unseen = int(np.sum(ratio * size < UNSEEN_PX))
    if unseen > UNSEEN_WARN_SHARE * n_boxes:
        # the input at which nine in ten of the boxes would reach UNSEEN_PX
        enough = _round_up(UNSEEN_PX / float(np.percentile(ratio, 10)), 32)
        warning = (f"{unseen} of the {n_boxes} boxes in train and val "
                   f"({unseen / n_boxes:.0%}) are under {UNSEEN_PX} px at the {size}-px "
                   "input, too small for the detector to find: crop or tile the images"
                   + (f", or set image_size to about {enough} in the override (slower)"
                      if size < enough <= 2048 else ""))
    if not override:
        reasons.append(f"the defaults fit: a quarter of the boxes are under "
                       f"{at(base.image_size):.1f} px at {base.image_size} px, and "
                       f"{stats.n_train} train images make {_steps(steps)} an epoch")
    return DataFit(override, reasons, warning)


def _steps(n: int) -> str:
    return f"{n} optimizer step" + ("" if n == 1 else "s")


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def _batch_size(n_train: int, default: int) -> int:
    """The largest power of two up to ``default`` that still makes MIN_STEPS_PER_EPOCH
    steps, at least 4."""
    batch = default
    while batch > 4 and math.ceil(n_train / batch) < MIN_STEPS_PER_EPOCH:
        batch //= 2
    return batch


def box_stats(store) -> BoxStats:
    """The :class:`BoxStats` of a project's labeled train and val images (``store``: an
    :class:`al_core.store.Store`)."""
    items = [i for split in ("train", "val") for i in store.items(split=split,
                                                                   status="labeled",
                                                                   trainable=True)]
    labels = store.annotations([i.id for i in items]) if items else {}
    short: list[float] = []
    box_long: list[float] = []
    for item in items:
        long_side = max(item.width, item.height)
        for a in labels.get(item.id, []):
            short.append(min(a.box.x2 - a.box.x1, a.box.y2 - a.box.y1))
            box_long.append(long_side)
    return BoxStats(np.asarray(short, np.float64), np.asarray(box_long, np.float64),
                    np.asarray([max(i.width, i.height) for i in items], np.float64),
                    sum(1 for i in items if i.split == "train"))


def fit_first_config(store, override: dict | None, *,
                     memory_images: int) -> tuple[TrainConfig, DataFit]:
    """The config of a project's first model: the defaults with the :func:`fit_config`
    keys fitted around ``override`` (the user's keys win, and the others are fitted to
    them). ``memory_images``: how many images training will hold."""
    from al_core.training.memory_fit import check_fits

    user = dict(override or {})
    base = merge_config(TrainConfig(), user)

    def fits(size: int, batch: int) -> bool:
        try:
            check_fits(merge_config(base, {"image_size": size, "batch_size": batch}),
                       memory_images)
        except ValueError:
            return False
        return True

    fit = fit_config(box_stats(store), base=base, fits=fits, fixed=frozenset(user))
    return merge_config(base, fit.override), fit


def describe_fit(fit: dict | DataFit | None) -> Sequence[str]:
    """Lines for a log or a page: the choices and their reasons, then the warning."""
    if fit is None:
        return []
    d = fit.as_dict() if isinstance(fit, DataFit) else fit
    return [f"fitted to the data: {r}" for r in d.get("reasons", [])] + (
        [f"warning: {d['warning']}"] if d.get("warning") else [])


def learned_nothing(fit: dict | None) -> str:
    """The one line a model at val mAP50 0 carries (``metrics["warning"]``), with what
    to try; ``fit``: the model's ``data_fit``, if its config was fitted."""
    unseen = (fit or {}).get("warning")
    return ("val mAP50 is 0.000 at every epoch: the model found none of the validation "
            "boxes. " + (f"Likely cause: {unseen}. " if unseen else "")
            + "Try more labeled images, a larger image_size, or more epochs "
              '(e.g. --config \'{"epochs": 80}\'); do not promote this model')
