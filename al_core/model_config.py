"""A model version's configuration (no torch here, so the UI can use it cheaply) and
Create New Model: a candidate whose config clones a base model's, with an override."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from al_core.store import Store

AUGMENTATIONS = ("color", "scale", "hflip")
# The model zoo's names (the torchvision ones are models.torchvision_zoo.TORCHVISION_ARCHS;
# a test keeps the two in step), here so a config is checked without importing torch.
ARCHS = ("compact", "fasterrcnn_mobilenet_v3_large_fpn", "retinanet_resnet50_fpn",
         "fcos_resnet50_fpn", "ssdlite320_mobilenet_v3_large")


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "compact"
    width: int = 16  # compact only
    image_size: int = 160
    epochs: int = 80
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    time_budget_s: float | None = None  # stop (and anneal the LR) by this time
    augment: tuple[str, ...] = ("color", "scale")
    repeat_threshold: float = 0.3  # repeat-factor sampling of rare classes; 0 = off
    ema_decay: float = 0.99  # validate and keep an exponential moving average; 0 = off
    seed: int = 0
    weights_path: str | None = None  # torchvision archs: a local pretrained checkpoint
    warm_start: bool = False  # start from the parent model's weights (same arch/classes)
    device: str = "auto"  # "auto" | "cpu" | "cuda"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch: unknown {self.arch!r} (choose from {', '.join(ARCHS)})")
        for name in ("width", "image_size", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {value!r} is not a positive integer")
        for name in ("lr", "weight_decay", "repeat_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: {value!r} is not a number >= 0")
        if isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) \
                or not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay: {self.ema_decay!r} is not a number in [0, 1)")
        if self.time_budget_s is not None and not (
                isinstance(self.time_budget_s, (int, float)) and self.time_budget_s > 0):
            raise ValueError(f"time_budget_s: {self.time_budget_s!r} is not a positive number")
        unknown = [a for a in self.augment if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"augment: unknown {', '.join(map(repr, unknown))} "
                             f"(choose from {', '.join(AUGMENTATIONS)})")
        if not isinstance(self.warm_start, bool):
            raise ValueError(f"warm_start: {self.warm_start!r} is not true or false")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: {self.device!r} is not auto, cpu or cuda")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "augment": list(self.augment)}


def merge_config(base: dict | TrainConfig, override: dict | None) -> TrainConfig:
    """``base`` with ``override``'s keys replaced; unknown keys are refused by name."""
    base = base.to_dict() if isinstance(base, TrainConfig) else dict(base)
    override = override or {}
    if not isinstance(override, dict):
        raise ValueError(f"the config override must be a JSON object, got {override!r}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(override) - known)
    if unknown:
        raise ValueError(f"unknown config key(s): {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
    merged = {**{k: v for k, v in base.items() if k in known}, **override}
    if isinstance(merged.get("augment"), (list, tuple)):
        merged["augment"] = tuple(merged["augment"])
    elif "augment" in merged:
        raise ValueError(f"augment: {merged['augment']!r} is not a list")
    return TrainConfig(**merged)


def create_candidate(store: Store, *, base_model_id: int | None = None,
                     override: dict | None = None, name: str | None = None) -> int:
    """A new model version whose config is the base model's (by default the active one;
    the defaults when there is none) with ``override`` applied; parent = the base."""
    base_id = base_model_id if base_model_id is not None else store.active_model_id()
    base = store.model(base_id)["config"] if base_id is not None else TrainConfig()
    config = merge_config(base, override)
    if not store.classes():
        raise ValueError("the project has no classes yet; import or label some images first")
    count = len(store.models()) + 1
    return store.add_model(name=name or f"{config.arch}-v{count}", arch=config.arch,
                           status="candidate", config=config.to_dict(), parent_id=base_id)
