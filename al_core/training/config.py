"""A model version's training configuration: ``TrainConfig``, its keys' ranges, and
merging an override into a base config. No torch here, so the UI can use it cheaply;
no store either (Create New Model is :mod:`al_core.training.candidates`)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from al_core.types import brief

AUGMENTATIONS = ("color", "scale", "hflip")
# The model zoo's names (the torchvision ones are training.torchvision_zoo.TORCHVISION_ARCHS;
# a test keeps the two in step), here so a config is checked without importing torch.
ARCHS = ("compact", "compact_mobilenet_v2", "fasterrcnn_mobilenet_v3_large_fpn", "retinanet_resnet50_fpn",
         "fcos_resnet50_fpn", "ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v2_fpn")


# Every numeric key's allowed range: (low, high, kind, what the range says). "int" keys
# take integers only (not booleans, not 10.0); "number" keys take finite ints or floats.
# The bounds keep a config from training nothing ({"lr": 0} once ran 80 epochs at no
# learning rate) or from asking for what this machine cannot hold.
RANGES: dict[str, tuple[float, float, str, str]] = {
    "width": (4, 256, "int", "an integer from 4 to 256"),
    "image_size": (32, 2048, "int", "an integer from 32 to 2048"),
    "epochs": (1, 10_000, "int", "an integer from 1 to 10000"),
    "batch_size": (1, 1024, "int", "an integer from 1 to 1024"),
    "patience": (0, 10_000, "int", "an integer from 0 (off) to 10000"),
    "seed": (0, 2**32 - 1, "int", "an integer from 0 to 4294967295"),
    "lr": (0, 1, "number", "a number > 0 and <= 1"),
    "weight_decay": (0, 1, "number", "a number >= 0 and < 1"),
    "repeat_threshold": (0, 1, "number", "a number from 0 (off) to 1"),
    "ema_decay": (0, 1, "number", "a number >= 0 (off) and < 1"),
    "pseudo_label_score": (0, 1, "number", "0 (off), or a score above 0.2 and below 1"),
    "time_budget_s": (0, 7 * 24 * 3600, "number",
                      "a number of seconds > 0 and <= 604800 (a week), or null (none)"),
}
_OPEN_LOW = {"lr", "time_budget_s"}  # 0 itself is refused
# the high bound itself is refused
_OPEN_HIGH = {"weight_decay", "ema_decay", "pseudo_label_score"}


def check_range(name: str, value) -> None:
    """Raise a ValueError naming ``name``, ``value`` and the allowed range unless the
    value is of the key's kind and inside its range (``RANGES``)."""
    low, high, kind, says = RANGES[name]
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_number = is_int or (isinstance(value, float) and math.isfinite(value))
    ok = (is_int if kind == "int" else is_number) \
        and (value > low if name in _OPEN_LOW else value >= low) \
        and (value < high if name in _OPEN_HIGH else value <= high)
    if not ok:
        raise ValueError(f"{name}: {brief(value)} is out of range (it must be {says})")


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "compact"
    width: int = 16  # compact and compact_mobilenet_v2 only
    image_size: int = 160
    # 25 epochs: on 2 CPU cores a demo with 500 labeled images trains in about 2 minutes
    # to ~0.91 test mAP50 (80 took ~400 s for ~0.96; BENCHMARKS.md)
    epochs: int = 25
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    time_budget_s: float | None = None  # stop (and anneal the LR) by this time
    patience: int = 5  # epochs without a better val mAP50, then a final anneal and stop; 0 = off
    augment: tuple[str, ...] = ("color", "scale")
    repeat_threshold: float = 0.3  # repeat-factor sampling of rare classes; 0 = off
    ema_decay: float = 0.99  # validate and keep an exponential moving average; 0 = off
    seed: int = 0
    weights_path: str | None = None  # torchvision archs: a local pretrained checkpoint
    warm_start: bool = False  # start from the parent model's weights (same arch/classes)
    # > 0: also train on pool images the parent model is sure about, its boxes scored at
    # least this as targets (al_core.training.pseudo_labels); 0 = off. 0.6: on the development
    # draw of the digits demo (5 seeds, the same round-0 models) uncertainty reached
    # random's final mAP50 with 61% of its images and 93% of its corrections with them,
    # 69% and 101% without; at 0.8 the compact detector is sure of no image at all, and
    # on the shapes demo its models are sure of almost none (BENCHMARKS.md, issue 17)
    pseudo_label_score: float = 0.6
    device: str = "auto"  # "auto" | "cpu" | "cuda"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch: unknown {brief(self.arch)} (choose from {', '.join(ARCHS)})")
        for name in RANGES:
            value = getattr(self, name)
            if not (name == "time_budget_s" and value is None):
                check_range(name, value)
        if not isinstance(self.augment, tuple):
            raise ValueError(f"augment: {brief(self.augment)} is not a list")
        unknown = [a for a in self.augment if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"augment: unknown {', '.join(map(repr, unknown))} "
                             f"(choose from {', '.join(AUGMENTATIONS)})")
        if 0 < self.pseudo_label_score <= 0.2:  # pseudo_labels.IGNORE_BELOW: background
            raise ValueError(f"pseudo_label_score: {brief(self.pseudo_label_score)} is out "
                             f"of range (it must be {RANGES['pseudo_label_score'][3]})")
        if not isinstance(self.warm_start, bool):
            raise ValueError(f"warm_start: {brief(self.warm_start)} is not true or false")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: {brief(self.device)} is not auto, cpu or cuda")
        if self.weights_path is not None and not isinstance(self.weights_path, str):
            raise ValueError(f"weights_path: {brief(self.weights_path)} is not a path or null")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "augment": list(self.augment)}


def merge_config(base: dict | TrainConfig, override: dict | None) -> TrainConfig:
    """``base`` with ``override``'s keys replaced; unknown keys are refused by name."""
    base = base.to_dict() if isinstance(base, TrainConfig) else dict(base)
    override = override or {}
    if not isinstance(override, dict):
        raise ValueError(f"the config override must be a JSON object, got {brief(override)}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(override) - known)
    if unknown:
        raise ValueError(f"unknown config key(s): {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
    merged = {**{k: v for k, v in base.items() if k in known}, **override}
    if isinstance(merged.get("augment"), (list, tuple)):
        merged["augment"] = tuple(merged["augment"])
    elif "augment" in merged:
        raise ValueError(f"augment: {brief(merged['augment'])} is not a list")
    return TrainConfig(**merged)
