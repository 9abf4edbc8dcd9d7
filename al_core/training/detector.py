"""The one interface every detector offers to training, prediction and the strategies.

Images reach a detector as a float tensor ``(N, 3, S, S)`` in ``[0, 1]``: letterboxed to
the model's square input size ``S`` (scaled so the longer side is ``S``, padded at the
right and bottom). Boxes are float ``[x1, y1, x2, y2]`` in pixels of that input; class
indices are ``0 .. num_classes - 1`` (the project's classes in id order). The caller maps
boxes back to the original image by dividing by the letterbox scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch


@dataclass(frozen=True)
class Prediction:
    """Detections on one image, in input pixels, best score first.

    boxes (K, 4) float32 xyxy; labels (K,) int64; scores (K,) float32; probs (K, C)
    float32, each row the detection's probability over the C classes (sums to 1; its
    argmax is ``labels``); embedding (D,) float32, one vector for the whole image.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    probs: np.ndarray
    embedding: np.ndarray


class Detector(Protocol):
    """What :mod:`al_core.training.loop` and prediction need from a model."""

    num_classes: int

    def losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]
               ) -> dict[str, torch.Tensor]:
        """Training losses for a batch; ``targets[i]`` has ``boxes`` (M, 4) float32 and
        ``labels`` (M,) int64. The module is in train mode."""
        ...

    def predict(self, images: torch.Tensor, *, score_threshold: float = 0.05,
                max_detections: int = 100) -> list[Prediction]:
        """Detections per image, scores >= ``score_threshold``. The module is in eval
        mode; callers wrap this in ``torch.inference_mode()``."""
        ...
