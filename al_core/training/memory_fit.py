"""Whether a training config fits in this machine's memory, checked before anything is
queued: a batch_size or image_size each inside its range can still ask together for
far more than the machine has (``width`` 256, ``image_size`` 2048 and ``batch_size``
1024 would need terabytes), and the training process would be killed for memory
after minutes of loading. No torch here: the Models page checks as the user types.

The estimate is deliberately simple and on the high side: training holds every train
and val image letterboxed as uint8 (``images x image_size^2 x 3`` bytes, stacked
once more while loading), and a batch's autograd activations, twice (forward saved
tensors, then their gradients). Activation bytes per input pixel were measured with
``torch.autograd.graph.saved_tensors_hooks`` on one training step of each arch
(compact: about 17-18 bytes per pixel per unit of ``width``; the torchvision archs
at 128-256 pixels), rounded up.
"""
from __future__ import annotations

import os
from dataclasses import replace

from al_core.training.config import RANGES, TrainConfig

# autograd bytes saved per input pixel and image: compact per unit of width, the
# torchvision archs as a whole (measured; see the module docstring)
COMPACT_BYTES_PER_PIXEL_PER_WIDTH = 20
ARCH_BYTES_PER_PIXEL = {"fasterrcnn_mobilenet_v3_large_fpn": 1_600,
                        "ssdlite320_mobilenet_v3_large": 1_600,
                        "retinanet_resnet50_fpn": 3_400, "fcos_resnet50_fpn": 3_400,
                        # from scratch, nothing frozen: 3,320 at 128 px, 2,050 at 256
                        "fasterrcnn_mobilenet_v2_fpn": 3_400}
FIXED_BYTES = 1 << 30  # the interpreter, torch, the model, its optimizer state: ~1 GiB
USABLE_FRACTION = 0.8  # of physical memory: the app, the OS and the page cache need room


def machine_memory_bytes() -> int:
    """Physical memory of this machine in bytes (0 when the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def _activation_bytes(config: TrainConfig) -> int:
    per_pixel = (COMPACT_BYTES_PER_PIXEL_PER_WIDTH * config.width if config.arch == "compact"
                 else ARCH_BYTES_PER_PIXEL.get(config.arch, 3_400))
    return 2 * per_pixel * config.image_size ** 2  # saved tensors, then their gradients


def training_bytes(config: TrainConfig, images: int) -> int:
    """Estimated peak memory in bytes of training ``config`` on ``images`` train + val
    images (see the module docstring for what is counted)."""
    cache = 2 * images * 3 * config.image_size ** 2
    return FIXED_BYTES + cache + config.batch_size * _activation_bytes(config)


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_fits(config: TrainConfig, images: int, *, memory_bytes: int | None = None) -> None:
    """Raise ValueError when training ``config`` on ``images`` train + val images needs
    more than ``USABLE_FRACTION`` of ``memory_bytes`` (default: this machine's). The
    message names the option to lower and the largest value that fits."""
    memory = machine_memory_bytes() if memory_bytes is None else memory_bytes
    if memory <= 0:
        return  # unknown: nothing to check against
    usable = int(memory * USABLE_FRACTION)
    need = training_bytes(config, images)
    if need <= usable:
        return
    head = (f"this config needs about {_gib(need)} of memory to train on {images:,} images "
            f"(image_size {config.image_size}, batch_size {config.batch_size}"
            + (f", width {config.width}" if config.arch == "compact" else "")
            + f"); this machine has {_gib(memory)}, of which {_gib(usable)} can be used")
    at_batch_1 = training_bytes(replace(config, batch_size=1), images)
    if at_batch_1 <= usable:
        per_image = _activation_bytes(config)
        most = (usable - (at_batch_1 - per_image)) // per_image
        raise ValueError(f"batch_size: {head}. At this image_size, batch_size can be at "
                         f"most {most} here (its range is {RANGES['batch_size'][3]})")
    low, high = RANGES["image_size"][0], RANGES["image_size"][1]
    fits = [s for s in range(low, high + 1, 32)
            if training_bytes(replace(config, batch_size=1, image_size=s), images) <= usable]
    if not fits:
        raise ValueError(f"image_size: {head}. Even at the smallest image_size ({low}) and "
                         f"batch_size 1 the {images:,} images do not fit: train on fewer "
                         "(a split with fewer train and val images) or on a larger machine")
    raise ValueError(f"image_size: {head}. Even at batch_size 1, image_size can be at most "
                     f"about {fits[-1]} here (its range is {RANGES['image_size'][3]})")
