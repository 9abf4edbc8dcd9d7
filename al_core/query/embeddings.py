"""Image embeddings from a pretrained backbone, computed once per image and backbone.

One vector per image: a backbone's trunk with its ImageNet weights (the file in the torch
cache, verified by its pinned SHA-256 in :mod:`al_core.training.backbone_weights`; nothing
is ever downloaded), global average pooled to 1280 values and L2-normalised. Two backbones
(:data:`BACKBONES`, the query option ``image_backbone``): torchvision's MobileNetV2
(``features``), the default, and EfficientNet-Lite0
(:mod:`al_core.training.efficientnet_lite`, converted from the official TensorFlow
checkpoint). Inputs are the whole image resized to ``INPUT_SIZE`` square (no crop: an
object at the border counts) with ImageNet normalisation, which the Lite0 conversion
takes too.

``INPUT_SIZE`` 160: the demos' own size; MobileNetV2's paper reports 68.8% ImageNet top-1
at 160 px against 71.8% at 224, for half the work. Measured on the 2-core machine, batches
of 64: 56 images/s at 160 px and 31 at 224 with two threads (43 and 19 with one);
``docs/query-strategies.md`` has the figures.

Vectors are cached in the ``features`` table under the backbone's key in
:data:`EXTRACTORS` (:data:`EXTRACTOR` is MobileNetV2's), which names the backbone, its
weights and the input size, so a change of any of them computes afresh and the old rows
are never mixed in; each backbone's vectors are kept side by side. Only items without a
stored vector are computed, in batches, reporting progress (and so cancel checks) after
each batch.

Without the chosen backbone's weights file the handcrafted extractor
(:mod:`al_core.query.features`) stands in, with a one-line hint; a file that is there but
not the pinned one is refused (``WeightsFileError``), never silently replaced.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from al_core.formats.images import load_image, to_rgb
from al_core.query import features as handcrafted
from al_core.store import Store

log = logging.getLogger(__name__)


def _weights():
    """:mod:`al_core.training.backbone_weights`, imported when used: it loads torch, and
    a query that needs no image vectors (or the CLI's start-up) must not."""
    from al_core.training import backbone_weights

    return backbone_weights
Progress = Callable[[float, str], None]

INPUT_SIZE = 160
DIM = 1280  # both backbones' trunks end in 1280 channels
BACKBONES = ("mobilenet_v2", "efficientnet_lite0")  # backbone_weights.BACKBONES, without torch
DEFAULT_BACKBONE = BACKBONES[0]
EXTRACTORS = {"mobilenet_v2": f"mobilenet_v2-imagenet1k_v1-{INPUT_SIZE}",
              "efficientnet_lite0": f"efficientnet_lite0-tf-{INPUT_SIZE}"}
EXTRACTOR = EXTRACTORS[DEFAULT_BACKBONE]
BATCH = 64  # images per forward pass
_MEAN = (0.485, 0.456, 0.406)  # ImageNet normalisation
_STD = (0.229, 0.224, 0.225)


def _check(backbone: str) -> str:
    if backbone not in BACKBONES:
        raise ValueError(f"image_backbone: {backbone!r} is not one of {', '.join(BACKBONES)}")
    return backbone


def weights_path(backbone: str = DEFAULT_BACKBONE) -> Path | None:
    """The backbone's ImageNet file's place in the torch cache, or None when it is absent
    (a one-line hint logged). Its SHA-256 is checked when it is read (:func:`load_trunk`)."""
    backbone_weights = _weights()
    path = backbone_weights.cache_dir() / backbone_weights.spec_of(_check(backbone)).name
    if not path.exists():  # looked up at call time: tests pin their own file
        log.warning("%s", missing_hint(backbone))
        return None
    return path


def missing_hint(backbone: str = DEFAULT_BACKBONE) -> str:
    """backbone_weights' hint, ending with what the query does instead."""
    backbone_weights = _weights()
    return (f"no pretrained {backbone_weights.spec_of(_check(backbone)).title} weights in "
            f"the torch cache ({backbone_weights.cache_dir()}): ./dev.sh installs them; "
            f"using handcrafted image features ({handcrafted.EXTRACTOR})")


def current_extractor(backbone: str = DEFAULT_BACKBONE) -> str:
    """The extractor image vectors come from on this machine: the backbone's key in
    :data:`EXTRACTORS` when its weights are installed, else the handcrafted one. Does not
    load torch's weights."""
    backbone_weights = _weights()
    spec = backbone_weights.spec_of(_check(backbone))
    return EXTRACTORS[backbone] if (backbone_weights.cache_dir() / spec.name).exists() \
        else handcrafted.EXTRACTOR


def load_trunk(path: Path, backbone: str = DEFAULT_BACKBONE):
    """The backbone's trunk (no classifier) with the weights of ``path``, verified by their
    pinned SHA-256 (WeightsFileError otherwise), in eval mode. Loaded once per process and
    file version (a query asks for it once, a simulation each round)."""
    stat = path.stat()
    spec = _weights().spec_of(_check(backbone))
    return _load_trunk(path, backbone, spec, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _load_trunk(path: Path, backbone: str, spec, size: int, mtime_ns: int):
    state = _weights().load_state_dict(path, spec)
    if backbone == "efficientnet_lite0":
        from al_core.training.efficientnet_lite import lite0_trunk

        return lite0_trunk(state)  # every tensor of the file, the classifier's dropped after
    from torchvision.models import mobilenet_v2

    trunk = mobilenet_v2(weights=None).features
    trunk.load_state_dict({k[len("features."):]: v for k, v in state.items()
                           if k.startswith("features.")}, strict=True)  # no classifier
    return trunk.eval()


def embed_batch(trunk, images: Sequence) -> np.ndarray:
    """(B, DIM) float32, rows L2-normalised, of PIL images of any size and mode."""
    import torch

    arrays = [np.asarray(to_rgb(im).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR))
              for im in images]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255  # (B, 3, S, S)
    x = (x - torch.tensor(_MEAN)[:, None, None]) / torch.tensor(_STD)[:, None, None]
    with torch.inference_mode():
        pooled = trunk(x).mean(dim=(2, 3))  # (B, 1280)
        pooled = torch.nn.functional.normalize(pooled, dim=1)
    return pooled.numpy().astype(np.float32)


def image_vectors(store: Store, ids: Sequence[int], *, backbone: str = DEFAULT_BACKBONE,
                  report: Progress | None = None) -> tuple[np.ndarray, str]:
    """``(len(ids), d)`` float32 vectors of the items and the extractor that made them:
    ``backbone``'s embeddings (its key in :data:`EXTRACTORS`), or handcrafted features
    without its weights. Stored vectors are reused; only missing items are computed, and
    stored per batch."""
    path = weights_path(backbone)
    if path is None:
        return cached_vectors(store, ids, handcrafted.EXTRACTOR, handcrafted.DIM,
                              handcrafted.batch_features, report=report, batch=256), \
            handcrafted.EXTRACTOR
    trunk = []  # loaded only when something is missing

    def compute(images):
        if not trunk:
            trunk.append(load_trunk(path, backbone))
        return embed_batch(trunk[0], images)

    extractor = EXTRACTORS[backbone]
    return cached_vectors(store, ids, extractor, DIM, compute, report=report), extractor


def cached_vectors(store: Store, ids: Sequence[int], extractor: str, dim: int,
                   compute: Callable[[list], np.ndarray], *, report: Progress | None = None,
                   batch: int | None = None) -> np.ndarray:
    """``(len(ids), dim)`` float32: the stored vectors under ``extractor``, the missing ones
    computed by ``compute`` (a list of PIL images -> ``(B, dim)``) in batches of ``batch``
    (default :data:`BATCH`) and stored after each, ``report`` called after each (it may
    raise Cancelled)."""
    batch = batch or BATCH
    ids = [int(i) for i in ids]
    cached = store.feature_vectors(extractor, ids)
    missing = [i for i in ids if i not in cached]
    for start in range(0, len(missing), batch):
        chunk = store.items(ids=missing[start:start + batch])
        vectors = compute([load_image(store.image_path(item)) for item in chunk])
        fresh = [(item.id, np.asarray(v, np.float32).tobytes())
                 for item, v in zip(chunk, vectors)]
        store.save_feature_vectors(extractor, fresh)
        cached.update(fresh)
        done = start + len(chunk)
        if report:
            report(0.05 + 0.8 * done / len(missing), f"image embeddings ({extractor}) "
                                                     f"{done}/{len(missing)}")
    if not ids:
        return np.zeros((0, dim), np.float32)
    return np.stack([np.frombuffer(cached[i], np.float32) for i in ids])
