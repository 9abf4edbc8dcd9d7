"""Image embeddings from the pretrained backbone, computed once per image and backbone.

One vector per image: torchvision's MobileNetV2 trunk (``features``) with its ImageNet
weights (the file in the torch cache, verified by its pinned SHA-256 in
:mod:`al_core.training.backbone_weights`; nothing is ever downloaded), global average
pooled to 1280 values and L2-normalised. Inputs are the whole image resized to
``INPUT_SIZE`` square (no crop: an object at the border counts) with ImageNet
normalisation.

``INPUT_SIZE`` 160: the demos' own size; MobileNetV2's paper reports 68.8% ImageNet top-1
at 160 px against 71.8% at 224, for half the work. Measured on the 2-core machine, batches
of 64: 56 images/s at 160 px and 31 at 224 with two threads (43 and 19 with one);
``docs/query-strategies.md`` has the figures.

Vectors are cached in the ``features`` table under :data:`EXTRACTOR`, which names the
backbone, its weights and the input size, so a change of any of them computes afresh and
the old rows are never mixed in. Only items without a stored vector are computed, in
batches, reporting progress (and so cancel checks) after each batch.

Without the weights file the handcrafted extractor (:mod:`al_core.query.features`) stands
in, with a one-line hint; a file that is there but not the pinned one is refused
(``WeightsFileError``), never silently replaced.
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
DIM = 1280
EXTRACTOR = f"mobilenet_v2-imagenet1k_v1-{INPUT_SIZE}"
BATCH = 64  # images per forward pass
_MEAN = (0.485, 0.456, 0.406)  # ImageNet normalisation
_STD = (0.229, 0.224, 0.225)


def weights_path() -> Path | None:
    """The MobileNetV2 ImageNet file's place in the torch cache, or None when it is absent
    (a one-line hint logged). Its SHA-256 is checked when it is read (:func:`load_trunk`)."""
    backbone_weights = _weights()
    path = backbone_weights.cache_dir() / backbone_weights.MOBILENET_V2.name  # read at call
    if not path.exists():  # time: tests pin their own file
        log.warning("%s", missing_hint())
        return None
    return path


def missing_hint() -> str:
    """backbone_weights' hint, ending with what the query does instead."""
    return (f"no pretrained MobileNetV2 weights in the torch cache "
            f"({_weights().cache_dir()}): ./dev.sh installs them; using handcrafted "
            f"image features ({handcrafted.EXTRACTOR})")


def current_extractor() -> str:
    """The extractor image vectors come from on this machine: :data:`EXTRACTOR` when the
    weights are installed, else the handcrafted one. Does not load torch's weights."""
    backbone_weights = _weights()
    spec = backbone_weights.MOBILENET_V2
    return EXTRACTOR if (backbone_weights.cache_dir() / spec.name).exists() \
        else handcrafted.EXTRACTOR


def load_trunk(path: Path):
    """MobileNetV2's ``features`` (the trunk, no classifier) with the weights of ``path``,
    verified by their pinned SHA-256 (WeightsFileError otherwise), in eval mode. Loaded
    once per process and file version (a query asks for it once, a simulation each round)."""
    stat = path.stat()
    return _load_trunk(path, _weights().MOBILENET_V2, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _load_trunk(path: Path, spec, size: int, mtime_ns: int):
    from torchvision.models import mobilenet_v2

    state = _weights().load_state_dict(path, spec)
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


def image_vectors(store: Store, ids: Sequence[int], *, report: Progress | None = None
                  ) -> tuple[np.ndarray, str]:
    """``(len(ids), d)`` float32 vectors of the items and the extractor that made them:
    backbone embeddings (:data:`EXTRACTOR`), or handcrafted features without the weights.
    Stored vectors are reused; only missing items are computed, and stored per batch."""
    path = weights_path()
    if path is None:
        return cached_vectors(store, ids, handcrafted.EXTRACTOR, handcrafted.DIM,
                              handcrafted.batch_features, report=report, batch=256), \
            handcrafted.EXTRACTOR
    trunk = []  # loaded only when something is missing

    def compute(images):
        if not trunk:
            trunk.append(load_trunk(path))
        return embed_batch(trunk[0], images)

    return cached_vectors(store, ids, EXTRACTOR, DIM, compute, report=report), EXTRACTOR


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
