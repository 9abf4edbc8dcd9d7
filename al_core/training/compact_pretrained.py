"""The compact detector on a pretrained trunk (the zoo's ``compact_mobilenet_v2``): the
same centre heatmap, box regression and crop classifier as :mod:`al_core.training.compact`,
with its from-scratch backbone replaced by torchvision's ImageNet MobileNetV2 (Sandler et
al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018) up to stride 16.

The trunk's ``features`` 0-3 (stride 4, 24 channels), 4-6 (stride 8, 32) and 7-13
(stride 16, 96) feed the compact detector's top-down neck in place of its own stages; the
stride-4 part stays frozen as pretrained (no gradients, BatchNorm in eval mode): it is
where a backward pass costs most on a CPU and where ImageNet's edges and colours need
no retraining. Inputs use ImageNet normalisation. Weights: torchvision's file from the
torch cache, verified by its pinned SHA-256 (:mod:`al_core.training.backbone_weights`;
nothing is downloaded); without it the whole network trains from scratch and
``weights_hint`` says so. The state_dict keys are the same either way.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2

from al_core.training.compact import CompactCenterNet

STAGES = ((0, 4), (4, 7), (7, 14))  # features slices: strides 4, 8, 16
CHANNELS = (24, 32, 96)
FROZEN_STAGES = 1  # the stride-4 stage keeps its ImageNet weights
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class PretrainedCenterNet(CompactCenterNet):
    """:class:`CompactCenterNet` with a MobileNetV2 trunk. ``trunk_weights``: the verified
    ImageNet file's state dict (None: from scratch, nothing frozen)."""

    def __init__(self, num_classes: int, *, width: int = 16,
                 trunk_weights: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__(num_classes, width=width)
        del self.stem, self.s4, self.s8, self.s16  # the from-scratch backbone
        trunk = mobilenet_v2(weights=None)
        if trunk_weights is not None:
            trunk.load_state_dict(trunk_weights)  # strict: the whole file, nothing else
        self.c4, self.c8, self.c16 = (trunk.features[a:b] for a, b in STAGES)
        w = width
        self.lat4 = nn.Conv2d(CHANNELS[0], 2 * w, 1)
        self.lat8 = nn.Conv2d(CHANNELS[1], 2 * w, 1)
        self.top16 = nn.Conv2d(CHANNELS[2], 2 * w, 1)
        self.__dict__["frozen"] = trunk_weights is not None
        if self.frozen:
            self.c4.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.to(memory_format=torch.channels_last)
        self.train()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (N, 3, S, S) in [0, 1] -> as :meth:`CompactCenterNet.forward`, the
        embedding (N, 96) from the stride-16 stage."""
        x = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        if self.frozen and torch.is_grad_enabled():
            with torch.no_grad():
                c4 = self.c4(x)
        else:
            c4 = self.c4(x)
        c8 = self.c8(c4)
        c16 = self.c16(c8)
        p8 = self.lat8(c8) + F.interpolate(self.top16(c16), size=c8.shape[-2:], mode="nearest")
        p4 = self.smooth(self.lat4(c4) + F.interpolate(p8, size=c4.shape[-2:], mode="nearest"))
        return {"heatmap": self.heatmap(p4), "regress": self.regress(p4),
                "embedding": c16.mean(dim=(2, 3))}

    def train(self, mode: bool = True) -> "PretrainedCenterNet":
        super().train(mode)
        if self.__dict__.get("frozen"):
            self.c4.train(False)  # ImageNet's running statistics stay
        return self


def build_compact_mobilenet_v2(num_classes: int, *, width: int,
                               weights_file: Path | None) -> PretrainedCenterNet:
    """The detector, its trunk from ``weights_file`` (checked against the pinned SHA-256;
    :class:`~al_core.training.backbone_weights.WeightsFileError` when it is not that file)
    or, with None, from scratch with ``weights_hint`` set."""
    from al_core.training import backbone_weights

    state = backbone_weights.load_state_dict(weights_file) if weights_file else None
    model = PretrainedCenterNet(num_classes, width=width, trunk_weights=state)
    model.__dict__["weights_hint"] = None if state is not None else \
        backbone_weights.missing_hint()
    return model
