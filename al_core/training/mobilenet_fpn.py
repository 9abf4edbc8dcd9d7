"""Faster R-CNN on an ImageNet-pretrained MobileNetV2 with an FPN at strides 8, 16 and 32
(the zoo's ``fasterrcnn_mobilenet_v2_fpn``).

The trunk is torchvision's ``mobilenet_v2().features``; its layers 6, 13 and 18 (32, 96 and
1280 channels; strides 8, 16, 32) feed a ``BackboneWithFPN`` (128 channels, plus
torchvision's max-pool level at stride 64). torchvision's own
``mobilenet_backbone("mobilenet_v2", fpn=True)`` returns two maps at stride 32 only, too
coarse for small objects. Anchors 16 to 192 pixels, two sizes per level. Inputs use
ImageNet normalisation (torchvision's detection default).

Weights: the trunk loads torchvision's ImageNet file from the torch cache, verified by
its pinned SHA-256 (:mod:`al_core.training.backbone_weights`; nothing is downloaded).
With it, the trunk's layers before ``FROZEN_BEFORE`` are frozen (no gradients, their
BatchNorm kept in eval mode), as torchvision's ``trainable_layers=3`` does; without it,
everything trains from scratch. The module's structure, and so its state_dict keys, is
the same either way: a checkpoint loads on a machine with or without the file.
"""
from __future__ import annotations

from pathlib import Path

from torchvision.models import mobilenet_v2
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops import MultiScaleRoIAlign

from al_core.training.backbone_weights import load_state_dict
from al_core.training.pretrained_weights import WeightsReport

ARCH = "fasterrcnn_mobilenet_v2_fpn"
RETURN_LAYERS = {"6": "0", "13": "1", "18": "2"}   # features index -> FPN level name
IN_CHANNELS = [32, 96, 1280]                        # strides 8, 16, 32
# Kept small for CPUs: the box head's first layer (channels x 7 x 7 -> 1024) on 512
# sampled RoIs per image made most of a step's time. One step of 8 images at 160 px on 2
# loaded cores: 256 channels and 512 RoIs 5-7 s, 256 and 128 1.6-2.0 s, 128 and 128 0.8-1.7 s
FPN_CHANNELS = 128
BOX_SAMPLES_PER_IMAGE = 128   # torchvision's default: 512
# one tuple per FPN output: levels 0, 1, 2 and torchvision's extra max-pool level
ANCHOR_SIZES = ((16, 24), (32, 48), (64, 96), (128, 192))
ASPECT_RATIOS = ((0.5, 1.0, 2.0),) * len(ANCHOR_SIZES)
# torchvision's trainable_layers=3 for MobileNet: the stem and the blocks up to the
# stride-8 output (features 0..6) stay as pretrained
FROZEN_BEFORE = 7


class _PartlyFrozenTrunk(IntermediateLayerGetter):
    """The FPN's body with its first ``frozen_before`` layers frozen: ``train()`` keeps
    their BatchNorm in eval mode (running statistics stay ImageNet's). Re-classed in place,
    so the state_dict keys stay torchvision's."""

    frozen_before: int = 0

    def train(self, mode: bool = True):
        super().train(mode)
        for index, layer in enumerate(self.values()):
            if index < self.frozen_before:
                layer.train(False)
        return self


def _freeze(body: IntermediateLayerGetter, before: int) -> None:
    for index, layer in enumerate(body.values()):
        if index < before:
            layer.requires_grad_(False)
    body.__class__ = _PartlyFrozenTrunk
    body.frozen_before = before


def build_fasterrcnn_mobilenet_v2_fpn(num_model_classes: int, *, image_size: int,
                                      trunk_weights: Path | None) -> tuple[FasterRCNN,
                                                                           WeightsReport | None]:
    """The detector for ``num_model_classes`` classes (background included) on square
    ``image_size`` inputs, and the report of the trunk's weights (None: from scratch).

    ``trunk_weights``: torchvision's MobileNetV2 ImageNet file, checked against its pinned
    SHA-256 (WeightsFileError when it is not that file) and loaded strictly into the
    trunk, early layers then frozen; None trains everything from scratch.
    """
    trunk = mobilenet_v2(weights=None)
    report = None
    if trunk_weights is not None:
        state = load_state_dict(trunk_weights)
        trunk.load_state_dict(state)        # strict: every key of the file, no other
        used = [f"backbone.body.{k.removeprefix('features.')}" for k in state
                if k.startswith("features.")]
        report = WeightsReport(path=Path(trunk_weights), loaded=tuple(used),
                               skipped=tuple(k for k in state if not k.startswith("features.")))
    backbone = BackboneWithFPN(trunk.features, RETURN_LAYERS, IN_CHANNELS, FPN_CHANNELS)
    if report is not None:
        _freeze(backbone.body, FROZEN_BEFORE)
    model = FasterRCNN(
        backbone, num_classes=num_model_classes, min_size=image_size, max_size=image_size,
        rpn_anchor_generator=AnchorGenerator(ANCHOR_SIZES, ASPECT_RATIOS),
        box_roi_pool=MultiScaleRoIAlign(list(RETURN_LAYERS.values()), output_size=7,
                                        sampling_ratio=2),
        box_batch_size_per_image=BOX_SAMPLES_PER_IMAGE, rpn_score_thresh=0.05)
    return model, report
