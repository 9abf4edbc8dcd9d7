"""Selectors: given scores or embeddings, pick k. Pure numpy; positions index the arrays
passed in (callers map them to item ids at once, so no pool-relative index leaves the
query module).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

WORKING_SET = 4096  # k-center greedy: points kept exact each step (see select_k_center)
_CHUNK = 2048
# _ONE_THREAD: greedy loops make a thousand small matrix-vector products. Two BLAS threads
# gain little on them, and when another process holds a core (a training job) each call
# waits for the descheduled thread: 100k x 512, k=1000 took 0.8 s with two threads and
# 0.3 s with one on a busy machine, and once 8 s. The loops run single-threaded.


def select_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first; ties go to the lower position."""
    scores = np.asarray(scores, np.float64)
    _check_k(k, len(scores))
    return np.lexsort((np.arange(len(scores)), -scores))[:k]


def _check_k(k: int, n: int) -> None:
    if not 0 <= k <= n:
        raise ValueError(f"cannot pick {k} of {n} items")


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def nearest_sq_distance(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared distance ``(N,)`` from each point ``(N, d)`` to its nearest center
    ``(L, d)`` (inf when there are no centers), in chunks of GEMMs."""
    out = np.full(len(points), np.inf, points.dtype)
    if len(centers) == 0:
        return out
    p_sq, c_sq = _sq_norms(points), _sq_norms(centers)
    for start in range(0, len(centers), _CHUNK):
        block = centers[start:start + _CHUNK]
        for row in range(0, len(points), 8 * _CHUNK):
            part = slice(row, row + 8 * _CHUNK)
            # min_j |x|^2 + |c_j|^2 - 2 x.c_j = |x|^2 + min_j (|c_j|^2 - 2 x.c_j), in place
            g = points[part] @ block.T  # (n, b)
            g *= -2
            g += c_sq[None, start:start + _CHUNK]
            best = g.min(axis=1)
            best += p_sq[part]
            np.minimum(out[part], np.maximum(best, 0), out=out[part])
    return out


def coverage_radius(points: np.ndarray, centers: np.ndarray) -> float:
    """The k-center objective: the largest distance from any point to its nearest center."""
    points = np.asarray(points, np.float32)
    return float(np.sqrt(nearest_sq_distance(points, np.asarray(centers, np.float32)).max()))


@dataclass(frozen=True)
class KCenterResult:
    """``indices`` (k,) positions in selection order; ``distances`` (k,) each pick's
    distance to the nearest earlier center when picked (NaN for a first pick made with
    no centers at all)."""

    indices: np.ndarray
    distances: np.ndarray


def select_k_center(points: np.ndarray, k: int, *, centers: np.ndarray | None = None,
                    working_set: int = WORKING_SET) -> KCenterResult:
    """Exact k-center greedy (Gonzalez; Sener & Savarese's coreset): repeatedly pick the
    point farthest from every center so far. ``centers`` (L, d), e.g. the labeled items'
    embeddings, are covered already; without them the first pick is the point nearest
    the mean.

    The plain algorithm reads all N x d floats per pick (memory-bound: 200 MB for 100k x
    512). Here only a working set (the ``working_set`` points farthest so far) is kept
    exact; every other point keeps its distance as of its last refresh, an upper bound,
    since distances to the nearest center only shrink. While the working set's best
    exceeds every outside bound it is the true farthest point, so the picks are the plain
    algorithm's (up to float rounding on near-ties); otherwise the set is rebuilt.
    """
    points = np.asarray(points, np.float32)  # (N, d)
    n = len(points)
    _check_k(k, n)
    initial = np.zeros((0, points.shape[1]), np.float32) if centers is None \
        else np.asarray(centers, np.float32).reshape(-1, points.shape[1])
    # Centred, float32 |x|^2 + |c|^2 - 2 x.c loses less to cancellation (embeddings after
    # a ReLU are all positive, far from the origin).
    mean = points.mean(axis=0) if n else 0.0
    points, initial = np.ascontiguousarray(points - mean), np.ascontiguousarray(initial - mean)
    sq = _sq_norms(points)  # (N,)
    chosen, gains = [], []
    if k and len(initial) == 0:
        first = int(np.argmin(_sq_norms(points)))  # nearest the mean (centred above)
        chosen, gains, initial = [first], [np.nan], points[[first]]
    state = _KCenterState(points, sq, initial, k + len(initial))
    state.mark_chosen(chosen)
    with threadpool_limits(1):  # see _ONE_THREAD
        while len(chosen) < k:
            pick, dist = state.next_farthest(min(working_set, n))
            chosen.append(pick)
            gains.append(dist)
    return KCenterResult(np.array(chosen, np.int64), np.array(gains, np.float64))


class _KCenterState:
    """Upper bounds on each point's squared distance to its nearest center; ``seen[i]``
    centers are accounted for in ``bound[i]`` (the exact value when it equals ``m``)."""

    def __init__(self, points, sq, initial, capacity) -> None:
        self.points, self.sq = points, sq
        self.centers = np.empty((capacity, points.shape[1]), np.float32)
        self.centers[:len(initial)] = initial
        self.c_sq = np.empty(capacity, np.float32)
        self.c_sq[:len(initial)] = _sq_norms(initial)
        self.m = len(initial)
        self.bound = nearest_sq_distance(points, initial)  # (N,) exact for m centers
        self.seen = np.full(len(points), self.m, np.int64)
        self.work = None  # (positions, their points, their squared norms, threshold)
        self.bound_w = None  # (P,) the working set's exact squared distances

    def mark_chosen(self, positions) -> None:
        self.bound[positions] = -1.0  # never the farthest again

    def next_farthest(self, size: int) -> tuple[int, float]:
        while True:
            if self.work is None:
                self._build_working_set(size)
            where, x, x_sq, threshold = self.work
            j = int(np.argmax(self.bound_w))
            if self.bound_w[j] >= threshold:
                break
            self._flush()  # an outside point may be farther: rebuild
        pick, dist = int(where[j]), float(np.sqrt(self.bound_w[j]))
        self.centers[self.m], self.c_sq[self.m] = self.points[pick], self.sq[pick]
        self.m += 1
        self.bound_w[j] = -1.0
        self.bound[pick] = -1.0
        d2 = x_sq + self.sq[pick] - 2 * (x @ self.points[pick])  # (P,)
        np.minimum(self.bound_w, np.maximum(d2, 0), out=self.bound_w)
        return pick, dist

    def _build_working_set(self, size: int) -> None:
        n = len(self.bound)
        if size >= n:
            where, threshold = np.arange(n), -np.inf
        else:
            part = np.argpartition(self.bound, n - size - 1)
            where, threshold = part[n - size:], self.bound[part[n - size - 1]]
        self._refresh(where[self.seen[where] < self.m])
        self.work = (where, self.points[where], self.sq[where], threshold)
        self.bound_w = self.bound[where]

    def _refresh(self, stale: np.ndarray) -> None:
        """Make ``bound`` exact for these positions, against the centers each lacks."""
        stale = stale[np.argsort(self.seen[stale], kind="stable")]  # similar ages together
        for start in range(0, len(stale), _CHUNK):
            group = stale[start:start + _CHUNK]
            lo = int(self.seen[group].min())  # earlier centers again are harmless
            d2 = self.sq[group, None] + self.c_sq[None, lo:self.m] \
                - 2 * (self.points[group] @ self.centers[lo:self.m].T)  # (G, m - lo)
            live = self.bound[group] >= 0
            fresh = np.minimum(self.bound[group], np.maximum(d2.min(axis=1), 0))
            self.bound[group] = np.where(live, fresh, self.bound[group])
        self.seen[stale] = self.m

    def _flush(self) -> None:
        where = self.work[0]
        self.bound[where] = self.bound_w
        self.seen[where] = self.m
        self.work = None


def select_k_center_with_quotas(points: np.ndarray, k: int, groups: np.ndarray,
                                quotas: dict[int, int], *, centers: np.ndarray | None = None
                                ) -> np.ndarray:
    """k-center greedy where group ``g`` is guaranteed ``quotas[g]`` picks: each step
    takes the farthest point among the groups still owed picks, plus every group while
    unreserved picks remain. For candidate sets of a few thousand (plain exact loop).
    ``groups`` (N,) int; returns positions (k,) in selection order."""
    points = np.asarray(points, np.float32)
    groups = np.asarray(groups)
    _check_k(k, len(points))
    mean = points.mean(axis=0) if len(points) else 0.0  # centred: see select_k_center
    points = np.ascontiguousarray(points - mean)
    centers = None if centers is None else np.asarray(centers, np.float32) - mean
    sizes = {int(g): int(n) for g, n in zip(*np.unique(groups, return_counts=True))}
    owed = {g: min(int(q), sizes.get(g, 0)) for g, q in quotas.items() if q > 0}
    if sum(owed.values()) > k:
        raise ValueError(f"quotas {owed} add up to more than the {k} picks")
    free = k - sum(owed.values())
    initial = np.zeros((0, points.shape[1]), np.float32) if centers is None else centers
    bound = nearest_sq_distance(points, np.asarray(initial, np.float32))  # inf: no centers
    sq = _sq_norms(points)  # (N,) also the squared distance to the mean: points are centred
    chosen: list[int] = []
    with threadpool_limits(1):  # see _ONE_THREAD
        while len(chosen) < k:
            eligible = bound >= 0
            if free == 0:
                eligible &= np.isin(groups, [g for g, n in owed.items() if n > 0])
            if chosen or len(initial):
                pick = int(np.argmax(np.where(eligible, bound, -np.inf)))
            else:  # no centers yet: as select_k_center, start nearest the mean
                pick = int(np.argmin(np.where(eligible, sq, np.inf)))
            if owed.get(int(groups[pick]), 0) > 0:
                owed[int(groups[pick])] -= 1
            else:
                free -= 1
            chosen.append(pick)
            d2 = np.maximum(sq + sq[pick] - 2 * (points @ points[pick]), 0)
            np.minimum(bound, d2, out=bound, where=bound >= 0)
            bound[pick] = -1.0
    return np.array(chosen, np.int64)


def class_quotas(group_sizes: dict[int, int], labeled_counts: dict[int, int], total: int
                 ) -> dict[int, int]:
    """Split ``total`` picks over the groups (predicted classes) with weight
    ``1 / (labeled boxes of the class + 1)``, so classes rare in the labeled set get
    the larger shares; no group gets more than it has. Largest remainder, ties to the
    rarer class, then the lower id."""
    quotas = {g: 0 for g in group_sizes}
    open_groups = [g for g, n in group_sizes.items() if n > 0]
    left = min(total, sum(group_sizes.values()))
    while left > 0 and open_groups:
        weights = np.array([1.0 / (labeled_counts.get(g, 0) + 1) for g in open_groups])
        share = left * weights / weights.sum()
        give = np.floor(share).astype(int)
        order = sorted(range(len(open_groups)), key=lambda j: (-(share[j] - give[j]),
                       labeled_counts.get(open_groups[j], 0), open_groups[j]))
        for j in order[:left - int(give.sum())]:
            give[j] += 1
        for j, g in enumerate(open_groups):
            room = group_sizes[g] - quotas[g]
            quotas[g] += min(int(give[j]), room)
        left = min(total, sum(group_sizes.values())) - sum(quotas.values())
        open_groups = [g for g in open_groups if quotas[g] < group_sizes[g]]
    return quotas


def select_ranked_batch(points: np.ndarray, uncertainty: np.ndarray, k: int, *,
                        labeled: np.ndarray | None = None) -> np.ndarray:
    """Cardoso et al.'s ranked batch, modAL's ``uncertainty_batch_sampling`` rule,
    vectorised: each step picks the unselected point maximising
    ``alpha * (1 - 1 / (1 + d)) + (1 - alpha) * u`` where ``d`` is its Euclidean distance
    to the nearest labeled-or-already-picked point and ``alpha = |unselected| /
    (|unselected| + |labeled| + |picked|)``. Ties go to the lower position, as in modAL.
    Without labeled points the first pick is the point with the least mean distance to
    all others (modAL's cold start; unlike modAL it is not picked a second time).
    points (N, d); uncertainty (N,) >= 0, divided by its maximum when that passes 1 (a
    summed or weighted uncertainty), since the rule trades it against a distance term in
    [0, 1); returns positions (k,) in rank order.

    modAL recomputes every distance each step. Here ``d`` is kept as of each point's
    last refresh: an upper bound, as ``d`` only shrinks, and the score grows with ``d``.
    So when the best bound belongs to a point that is up to date it is the true best,
    and a point is brought up to date (against the picks since) only when its bound
    leads. Exact, in float64 like modAL's distances."""
    x = np.ascontiguousarray(points, np.float64)
    u = np.asarray(uncertainty, np.float64)
    if len(u) and u.max() > 1:
        u = u / u.max()
    n = len(x)
    _check_k(k, n)
    sq = _sq_norms(x)
    n_labeled = 0 if labeled is None else len(labeled)
    chosen: list[int] = []
    if n_labeled:
        nearest = np.sqrt(nearest_sq_distance(x, np.asarray(labeled, np.float64)))
    elif k:
        chosen = [_most_central(x, sq)]
        nearest = np.sqrt(np.maximum(sq + sq[chosen[0]] - 2 * (x @ x[chosen[0]]), 0))
    seen = np.full(n, len(chosen))  # picks accounted for in nearest[i]
    score, part = np.empty(n), np.empty(n)
    while len(chosen) < k:
        remaining = n - len(chosen)
        alpha = remaining / (remaining + n_labeled + len(chosen))
        np.add(nearest, 1, out=score)  # the score, in modAL's float operations
        np.divide(1, score, out=score)
        np.subtract(1, score, out=score)
        score *= alpha
        np.multiply(u, 1 - alpha, out=part)
        score += part
        score[chosen] = -np.inf
        while True:
            best = int(np.argmax(score))
            if seen[best] == len(chosen):
                break
            _refresh_nearest(x, sq, best, chosen, seen, nearest)
            score[best] = alpha * (1 - 1 / (1 + nearest[best])) + (1 - alpha) * u[best]
        chosen.append(best)
    return np.array(chosen, np.int64)


def _refresh_nearest(x, sq, i: int, chosen: list[int], seen: np.ndarray,
                     nearest: np.ndarray) -> None:
    new = chosen[seen[i]:]
    d2 = sq[new] + sq[i] - 2 * (x[new] @ x[i])  # (picks since,)
    nearest[i] = min(nearest[i], float(np.sqrt(max(d2.min(), 0.0))))
    seen[i] = len(chosen)


def _most_central(x: np.ndarray, sq: np.ndarray) -> int:
    """The point with the least mean Euclidean distance to all points (chunked)."""
    means = np.empty(len(x))
    for start in range(0, len(x), _CHUNK):
        part = slice(start, start + _CHUNK)
        d2 = sq[part, None] + sq[None, :] - 2 * (x[part] @ x.T)
        means[part] = np.sqrt(np.maximum(d2, 0)).mean(axis=1)
    return int(np.argmin(means))


TYPICALITY_NEIGHBORS = 20  # TypiClust's k for the density estimate
MAX_CLUSTERS = 500  # TypiClust caps the clusters as well: beyond it, KMeans dominates


def select_typical(points: np.ndarray, k: int, *, labeled: np.ndarray | None = None,
                   seed: int = 0) -> np.ndarray:
    """TypiClust (Hacohen et al. 2022), for a cold start: cluster pool and labeled points
    into ``min(L + k, MAX_CLUSTERS)`` clusters (seeded k-means), then repeatedly take the
    cluster with the fewest labeled-or-picked members (ties: the larger cluster, then the
    lower id) and pick its most typical unpicked point, typicality = 1 / mean distance to
    its ``TYPICALITY_NEIGHBORS`` nearest neighbours in the cluster. Returns positions (k,)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.exceptions import ConvergenceWarning

    x = np.ascontiguousarray(points, np.float32)
    _check_k(k, len(x))
    if k == 0:
        return np.zeros(0, np.int64)
    lab = np.zeros((0, x.shape[1]), np.float32) if labeled is None \
        else np.asarray(labeled, np.float32).reshape(-1, x.shape[1])
    both = np.concatenate([x, lab])
    n_clusters = min(len(lab) + k, MAX_CLUSTERS, len(both))
    kmeans = (KMeans(n_clusters, n_init=1, random_state=seed) if len(both) <= 20_000 else
              MiniBatchKMeans(n_clusters, n_init=1, batch_size=4096, random_state=seed))
    with warnings.catch_warnings():
        # duplicate images give fewer distinct clusters than asked: the empty ones
        # simply have no members to pick, so the warning says nothing we act on
        warnings.simplefilter("ignore", ConvergenceWarning)
        assign = kmeans.fit_predict(both)
    pool_assign, covered = assign[:len(x)], np.bincount(assign[len(x):], minlength=n_clusters)
    typicality = _typicality(x, pool_assign, n_clusters)
    # each cluster's pool members, most typical first (ties: lower position)
    ranked = [m[np.lexsort((m, -typicality[m]))] for m in
              (np.flatnonzero(pool_assign == c) for c in range(n_clusters))]
    picked = np.zeros(n_clusters, np.int64)
    chosen: list[int] = []
    while len(chosen) < k:
        open_ = np.flatnonzero(picked < [len(m) for m in ranked])
        cluster = min(open_, key=lambda c: (covered[c], -len(ranked[c]), c))
        chosen.append(int(ranked[cluster][picked[cluster]]))
        picked[cluster] += 1
        covered[cluster] += 1
    return np.array(chosen, np.int64)


def _typicality(x: np.ndarray, assign: np.ndarray, n_clusters: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    out = np.zeros(len(x))
    for c in range(n_clusters):
        members = np.flatnonzero(assign == c)
        if len(members) < 2:
            out[members] = 1.0
            continue
        n = min(TYPICALITY_NEIGHBORS + 1, len(members))  # +1: each point finds itself
        dist, _ = NearestNeighbors(n_neighbors=n).fit(x[members]).kneighbors(x[members])
        out[members] = 1.0 / (dist[:, 1:].mean(axis=1) + 1e-8)
    return out
