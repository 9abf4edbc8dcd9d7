"""Near-duplicate images: pairs whose handcrafted image vectors
(:mod:`al_core.query.features`, cached in the ``features`` table) have a cosine
similarity of at least :data:`DUPLICATE_COSINE`. Used to report duplicates on the Project
page and to keep two near-duplicates out of one query batch
(:func:`al_core.query.round.select_distinct`).

Why the handcrafted vector and not the backbone's embedding: a duplicate is the same
picture, and the handcrafted vector describes the picture (layout, colour, edges at low
resolution), which re-encoding or resizing barely moves. The ImageNet backbone's
embedding describes content and reacts to texture: on the digits demo an image and its
JPEG (quality 75) copy scored as low as 0.73, below two different scenes (up to 0.90),
so no threshold separates them. Measured on each demo's images against their JPEG
quality-75 copy, their copy resized to 2/3 and that resized back up: copies >= 0.9946;
distinct images <= 0.961 (2000 digits scenes) and 0.957 (2000 shapes scenes). 0.98 lies
between (docs/query-strategies.md has the rest, and what it misses).

Pairs are found in blocks of :data:`BLOCK` rows against the rows after them (the upper
triangle, one matrix product per block), so memory stays ``BLOCK x N`` floats and nothing
N x N is held: 20,000 images take about 1.5 s on two cores.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from al_core.query import features as handcrafted
from al_core.query.embeddings import Progress, cached_vectors
from al_core.store import Store

DUPLICATE_EXTRACTOR = handcrafted.EXTRACTOR
DUPLICATE_COSINE = 0.98
BLOCK = 1024


def duplicate_vectors(store: Store, ids: Sequence[int], *, report: Progress | None = None
                      ) -> np.ndarray:
    """(len(ids), d) float32 unit rows of the items' handcrafted vectors, computed once
    (a few milliseconds per image) and stored."""
    vectors = cached_vectors(store, ids, DUPLICATE_EXTRACTOR, handcrafted.DIM,
                             handcrafted.batch_features, report=report, batch=256)
    return unit_rows(vectors)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """(N, d) float32 rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 1e-12, norms, 1.0)


@dataclass(frozen=True)
class DuplicatePairs:
    """``first`` < ``second`` (P,) positions into the vectors given, ``cosine`` (P,), most
    similar first."""

    first: np.ndarray
    second: np.ndarray
    cosine: np.ndarray


def near_duplicate_pairs(vectors: np.ndarray, threshold: float = DUPLICATE_COSINE, *,
                         block: int = BLOCK) -> DuplicatePairs:
    """Every pair of rows of ``vectors`` (N, d) with cosine >= ``threshold``."""
    x = unit_rows(vectors)
    firsts, seconds, cosines = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for start in range(0, len(x), block):
        g = x[start:start + block] @ x[start:].T  # (b, N - start)
        rows, cols = np.nonzero(np.triu(g >= threshold, k=1))  # column > row only
        firsts.append(rows + start)
        seconds.append(cols + start)
        cosines.append(g[rows, cols].astype(np.float64))
    first, second, cosine = (np.concatenate(a) for a in (firsts, seconds, cosines))
    order = np.lexsort((second, first, -cosine))
    return DuplicatePairs(first[order].astype(np.int64), second[order].astype(np.int64),
                          cosine[order])


def drop_near_duplicates(vectors: np.ndarray, threshold: float = DUPLICATE_COSINE, *,
                         kept: np.ndarray | None = None) -> np.ndarray:
    """Boolean (N,): which rows of ``vectors`` (N, d), in rank order, to keep when a row
    that is a near-duplicate of a row kept before it, or of a row of ``kept`` (M, d), is
    skipped. For batches (N x (M + N) similarities at once)."""
    x = unit_rows(vectors)
    before = np.zeros((0, x.shape[1]), np.float32) if kept is None else unit_rows(kept)
    sims = x @ np.concatenate([before, x]).T  # (N, M + N)
    taken = np.zeros(len(before) + len(x), bool)
    taken[:len(before)] = True
    for i in range(len(x)):
        taken[len(before) + i] = not np.any(sims[i][taken] >= threshold)
    return taken[len(before):].copy()


@dataclass(frozen=True)
class DuplicateReport:
    """Near-duplicate pairs among ``items_checked`` items (those with a stored vector):
    ``pairs`` of item ids (lower id first) with their cosine, most similar first."""

    threshold: float
    items_checked: int
    pairs: list[tuple[int, int, float]]

    @property
    def items_in_pairs(self) -> int:
        return len({i for a, b, _ in self.pairs for i in (a, b)})


def near_duplicates(store: Store, ids: Sequence[int], *, compute: bool = False,
                    report: Progress | None = None) -> DuplicateReport:
    """Near-duplicates among ``ids``: from the stored vectors only, or (``compute``) with
    the missing ones computed and stored first."""
    ids = [int(i) for i in ids]
    if compute:
        duplicate_vectors(store, ids, report=report)
    stored = store.feature_vectors(DUPLICATE_EXTRACTOR, ids)
    have = sorted(stored)
    if not have:
        return DuplicateReport(DUPLICATE_COSINE, 0, [])
    found = near_duplicate_pairs(np.stack([np.frombuffer(stored[i], np.float32)
                                           for i in have]))
    pairs = [(have[a], have[b], round(float(c), 4))
             for a, b, c in zip(found.first, found.second, found.cosine)]
    return DuplicateReport(DUPLICATE_COSINE, len(have), pairs)
