"""Checkpoints: a detector of a config's architecture, written atomically (temp file +
rename) with its SHA-256 recorded, and loaded back with ``torch.load(...,
weights_only=True)`` after the hash is checked. A checkpoint is a plain dict that
carries its config: ``{"arch", "config", "class_ids", "state_dict", "best_epoch"}``."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from al_core.store import Store
from al_core.training.config import TrainConfig, merge_config


def build_detector(config: TrainConfig, num_classes: int, *, seed: int | None = None):
    """A detector of ``config.arch`` for ``num_classes`` classes, freshly initialised.
    With ``seed``, torch's generator is seeded first, so the initial weights, and with
    them a whole training of the same config and data, come out the same every time on
    one machine and thread count (:func:`al_core.training.loop.train_loop` seeds the rest);
    without it (a checkpoint is about to be loaded over them) the weights are whatever
    torch's generator gives."""
    if seed is not None:
        torch.manual_seed(seed)
    if config.arch == "compact":
        from al_core.training.compact import CompactCenterNet
        return CompactCenterNet(num_classes, width=config.width)
    if config.arch == "compact_mobilenet_v2":
        from al_core.training import backbone_weights
        from al_core.training.compact_pretrained import build_compact_mobilenet_v2
        # a checkpoint about to be loaded (no seed) needs no ImageNet file
        weights = backbone_weights.installed_path() if seed is not None else None
        model = build_compact_mobilenet_v2(num_classes, width=config.width,
                                           weights_file=weights)
        if seed is None:
            model.weights_hint = None
        return model
    from al_core.training.torchvision_zoo import TORCHVISION_ARCHS, build_torchvision_detector
    if config.arch not in TORCHVISION_ARCHS:
        raise ValueError(f"arch: unknown {config.arch!r} (choose compact, "
                         "compact_mobilenet_v2 or one of "
                         f"{', '.join(TORCHVISION_ARCHS)})")
    return build_torchvision_detector(config.arch, num_classes, image_size=config.image_size,
                                      weights_path=config.weights_path)


def atomic_save(obj: dict, path: Path) -> str:
    tmp = path.with_name(path.name + ".tmp")  # the job runner's end hook removes it if the job dies
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def load_checkpoint(store: Store, model_id: int):
    """(model in eval mode, TrainConfig, class ids in model order), the file's hash checked."""
    row = store.model(model_id)
    if not row["checkpoint_path"]:
        raise ValueError(f"model #{model_id} has no checkpoint (status {row['status']})")
    path = store.root / row["checkpoint_path"]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != row["checkpoint_sha256"]:
        raise ValueError(f"the checkpoint {path} does not match its recorded hash; it was "
                         "changed or damaged after training")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    config = merge_config(TrainConfig(), {**ckpt["config"], "weights_path": None})
    model = build_detector(config, len(ckpt["class_ids"]))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"the checkpoint of model #{model_id} does not fit the current "
                         f"{config.arch} architecture (made by an older version?); train a "
                         f"new model. Details: {str(exc).splitlines()[0]}") from None
    return model.eval(), config, list(ckpt["class_ids"])
