"""A fixed image feature extractor for the cold start, when no model exists yet: nothing
to download or train, deterministic, a few milliseconds per image.

The vector concatenates three L2-normalised blocks, each describing what differs between
images in a way a k-center or clustering step can use:
- layout: the grayscale image at 8 x 8, zero mean and unit variance (64 values);
- colour: an 8-bin histogram per RGB channel, square-rooted (Hellinger) (24 values);
- shape: a gradient-orientation histogram, 8 unsigned orientations in each cell of a
  4 x 4 grid, magnitude-weighted, square-rooted (128 values), like HOG without blocks.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from al_core.formats.images import to_rgb

# The cache key: change it when the vector changes. v2: 16-bit, float and transparent
# images are read as they look (v1 saw a 16-bit grey image as white).
EXTRACTOR = "handcrafted-v2"
DIM = 64 + 24 + 128
_SIDE = 64  # images are resized to _SIDE x _SIDE first
_CELLS, _BINS = 4, 8


def image_features(image: Image.Image) -> np.ndarray:
    """(DIM,) float32 feature vector of an image of any size and mode (:func:`to_rgb`)."""
    rgb = np.asarray(to_rgb(image).resize((_SIDE, _SIDE), Image.BILINEAR),
                     np.float32) / 255.0  # (S, S, 3)
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)  # (S, S)
    return np.concatenate([_unit(_layout(gray)), _unit(_colour(rgb)),
                           _unit(_orientations(gray))]).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-8 else v


def _layout(gray: np.ndarray) -> np.ndarray:
    step = _SIDE // 8
    small = gray.reshape(8, step, 8, step).mean(axis=(1, 3)).ravel()  # (64,)
    return (small - small.mean()) / (small.std() + 1e-6)


def _colour(rgb: np.ndarray) -> np.ndarray:
    bins = np.minimum((rgb * 8).astype(np.int64), 7)  # (S, S, 3)
    hist = np.stack([np.bincount(bins[..., c].ravel(), minlength=8) for c in range(3)])
    return np.sqrt(hist.ravel() / bins[..., 0].size)  # (24,)


def _orientations(gray: np.ndarray) -> np.ndarray:
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, 1:-1] = gray[:, 2:] - gray[:, :-2]
    gy[1:-1, :] = gray[2:, :] - gray[:-2, :]
    magnitude = np.hypot(gx, gy)  # (S, S)
    angle = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned: an edge and its reverse agree
    orient = np.minimum((angle / np.pi * _BINS).astype(np.int64), _BINS - 1)
    step = _SIDE // _CELLS
    cell = (np.arange(_SIDE) // step)  # (S,)
    index = (cell[:, None] * _CELLS + cell[None, :]) * _BINS + orient  # (S, S)
    hist = np.bincount(index.ravel(), weights=magnitude.ravel(),
                       minlength=_CELLS * _CELLS * _BINS)
    return np.sqrt(hist / (hist.sum() + 1e-8))  # (128,)


def batch_features(images) -> np.ndarray:
    """(B, DIM) float32: :func:`image_features` of each PIL image."""
    return np.stack([image_features(im) for im in images]).reshape(-1, DIM)
