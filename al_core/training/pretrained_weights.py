"""Pretrained weights for the torchvision detectors, loaded shape-aware: every tensor of a
checkpoint file whose name and shape match the model's is copied in, the rest (the
class-count-dependent head layers) is skipped and trains from scratch. Files are read
with ``torch.load(..., weights_only=True)``."""
from __future__ import annotations

import logging
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsReport:
    """Which checkpoint tensors were copied into the model and which were skipped."""

    path: Path
    loaded: tuple[str, ...]
    skipped: tuple[str, ...]   # not in the model, or another shape (class-count heads)


_RETINANET_V1_KEY = re.compile(r"^(head\.(?:classification|regression)_head\.conv\.)(\d+)\.")


def _checkpoint_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError,
            AttributeError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a torch checkpoint: {exc}") from exc
    if isinstance(checkpoint, dict):
        for key in ("model", "state_dict"):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict) or not checkpoint or not all(
            isinstance(v, Tensor) for v in checkpoint.values()):
        raise ValueError(f"{path} holds no state_dict (a dict of tensors, or one under "
                         f"'model' / 'state_dict')")
    return checkpoint


def _model_key(key: str, own: dict[str, Tensor]) -> str:
    """The model's name for a checkpoint key: as is, without a ``model.`` / ``module.``
    prefix (our wrapper, DataParallel), or RetinaNet's v1 head names (``conv.2`` ->
    ``conv.1.0``, as torchvision's own loader converts them)."""
    for prefix in ("", "model.", "module."):
        if key.startswith(prefix) and key[len(prefix):] in own:
            return key[len(prefix):]
    match = _RETINANET_V1_KEY.match(key)
    if match and int(match[2]) % 2 == 0:
        renamed = f"{match[1]}{int(match[2]) // 2}.0.{key[match.end():]}"
        if renamed in own:
            return renamed
    return key


def load_matching_weights(model: nn.Module, path: str | Path) -> WeightsReport:
    """Copy into ``model`` every checkpoint tensor whose name and shape match; skip the rest.

    The file is read with ``torch.load(..., weights_only=True)``: a plain state_dict or a
    dict holding one under ``"model"`` or ``"state_dict"``. FileNotFoundError when the
    file is missing; ValueError when it is not such a checkpoint.
    """
    path = Path(path)
    own = model.state_dict()
    loaded, skipped, matched = [], [], {}
    for key, value in _checkpoint_state_dict(path).items():
        name = _model_key(key, own)
        if name in own and own[name].shape == value.shape:
            matched[name] = value
            loaded.append(name)
        else:
            skipped.append(key)
    model.load_state_dict(matched, strict=False)
    log.info("loaded %d tensors from %s, skipped %d: %s", len(loaded), path, len(skipped),
             ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else ""))
    return WeightsReport(path=path, loaded=tuple(loaded), skipped=tuple(skipped))
