"""The cost-aware and difficulty-calibrated strategies: their numbers on known cases
(al_core.query.cost) and what they pick from a context with known detections."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from al_core.query.cost import class_quality, difficulty_weights, expected_corrections
from al_core.query.strategies import ModelDetections, check_options, get_strategy


def _boxes(*rows):
    return np.array(rows, np.float64).reshape(-1, 4)


def test_class_quality_is_the_mean_best_iou_times_score_of_same_class_detections():
    predictions = [
        # image 0: a perfect box of class 0 at 0.8; a class-1 box on the class-0 object
        (_boxes([0, 0, 10, 10], [0, 0, 10, 10]), np.array([0.8, 0.9]), np.array([0, 1])),
        # image 1: a class-0 box at half overlap (IoU 50/150 = 1/3) at score 0.6
        (_boxes([0, 0, 10, 5]), np.array([0.6]), np.array([0])),
    ]
    truth = [(_boxes([0, 0, 10, 10]), np.array([0])),
             (_boxes([0, 0, 10, 10], [20, 20, 30, 30]), np.array([0, 1]))]
    q = class_quality(predictions, truth, 3)
    # class 0: 0.8 (image 0) and 0.5 * 0.6 = 0.3 (image 1): mean 0.55; the class-1
    # detection on image 0 does not count for class 0, nor for class 1's object
    assert q[0] == pytest.approx((0.8 + 0.3) / 2)
    assert q[1] == 0.0  # its one true box has no class-1 detection over it
    assert np.isnan(q[2])  # no true box of class 2
    with pytest.raises(ValueError, match="class indices"):
        class_quality([(_boxes(), np.zeros(0), np.zeros(0))], [(_boxes([0, 0, 1, 1]),
                                                                np.array([3]))], 3)


def test_difficulty_weights_follow_ppal_from_1_to_1_plus_upper():
    w = difficulty_weights(np.array([1.0, 0.0, np.nan, 0.5]))
    assert w[0] == pytest.approx(1.0) and w[1] == pytest.approx(1.2)
    assert w[2] == pytest.approx(1.2)  # unknown quality: as hard as can be
    # PPAL's concave curve: 1 + 0.3 * 0.2 * log((e^(1/0.3) - 1) * 0.5 + 1)
    assert w[3] == pytest.approx(1 + 0.06 * np.log((np.exp(1 / 0.3) - 1) * 0.5 + 1))
    assert w[3] > 1.1  # half handled is already most of the way to the top


@given(st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_difficulty_weights_fall_as_quality_rises(qualities):
    q = np.sort(np.array(qualities))
    w = difficulty_weights(q)
    assert np.all(np.diff(w) <= 1e-6) and np.all((w >= 1 - 1e-6) & (w <= 1.2 + 1e-6))


def test_expected_corrections_on_known_detections():
    scores = np.array([0.9, 0.5, 0.2, 1.0])
    own = np.array([1.0, 0.5, 0.9, 1.0])
    out = expected_corrections(scores, own, np.array([0, 0, 0, 2]), 3, min_score=0.3)
    # 0.9 shown, sure of its class: deleted with 0.1; 0.5 shown torn between classes:
    # 0.5 + 0.5 * 0.5; 0.2 hidden: an object to add with 0.2. Image 1 has none, image 2
    # one certain box: nothing to correct
    assert out == pytest.approx([0.1 + 0.75 + 0.2, 0.0, 0.0])
    with pytest.raises(ValueError, match="one entry per detection"):
        expected_corrections(scores, own[:2], np.zeros(4, np.int64), 1, min_score=0.3)
    with pytest.raises(ValueError, match="image_index must be in 0..1"):
        expected_corrections(scores, own, np.array([0, 0, 1, 3]), 2, min_score=0.3)


class FakeContext:
    """A Context with known detections (one row per detection) and embeddings."""

    def __init__(self, pool, dets, embeddings, quality, options=None):
        self.pool = np.array(pool, np.int64)
        self.labeled = np.array([100], np.int64)
        self.options = check_options(options)
        self._dets, self._emb, self._quality = dets, embeddings, quality
        self.notes = {}

    def detections(self, ids):
        rows = [(k, d) for k, i in enumerate(ids) for d in self._dets.get(int(i), [])]
        return ModelDetections(np.array([d[2] for _, d in rows], np.float32).reshape(-1, 2),
                          np.array([d[1] for _, d in rows], np.float32),
                          np.array([k for k, _ in rows], np.int64),
                          np.array([d[0] for _, d in rows], np.int64), len(ids))

    def uncertainty(self, ids, class_factors=None):
        from al_core.query.measures import image_uncertainty
        found = self.detections(ids)
        weights = None if class_factors is None else np.asarray(class_factors)[found.classes]
        return image_uncertainty(found.probs, found.scores, found.image_index, len(ids),
                                 weights=weights)

    def class_quality(self):
        return np.array(self._quality)

    def embeddings(self, ids):
        return np.array([self._emb[int(i)] for i in ids], np.float32)

    def note(self, key, value):
        self.notes[key] = value


def _pick(name, ctx, k):
    return [i for i, _ in get_strategy(name).select(ctx, k, np.random.default_rng(0))]


def test_cost_aware_prefers_the_image_that_teaches_as_much_for_fewer_corrections():
    # image 1: a sure object torn between two classes (entropy 0.675 of the 3 columns
    # with "no object"; expected corrections 0.01 delete + 0.495 relabel). Image 2: an
    # object at 0.8 fairly sure of its class: nearly as uncertain (0.667), but a
    # correction is less likely (0.2 delete + 0.068 relabel)
    torn = (0, 0.99, [0.5, 0.5])
    fair = (0, 0.8, [0.915, 0.085])
    ctx = FakeContext([1, 2], {1: [torn], 2: [fair]}, {1: [0, 0], 2: [1, 1]}, [1, 1],
                      {"class_weight": 0})
    info = ctx.uncertainty(ctx.pool).scores
    assert info[0] == pytest.approx(0.675, abs=1e-3) and info[1] == pytest.approx(0.667, abs=1e-3)
    assert _pick("uncertainty", ctx, 1) == [1]
    ranked = get_strategy("cost_aware").select(ctx, 2, np.random.default_rng(0))
    # info / (cost_floor 1 + expected corrections)
    assert [i for i, _ in ranked] == [2, 1]
    assert ranked[0][1] == pytest.approx(info[1] / (1 + 0.2 + 0.8 * 0.085), rel=1e-5)
    assert ranked[1][1] == pytest.approx(info[0] / (1 + 0.01 + 0.99 * 0.5), rel=1e-5)


def test_dcus_takes_the_hard_class_and_then_a_diverse_batch():
    easy = (0, 0.5, [1.0, 0.0])
    hard = (1, 0.5, [0.0, 1.0])  # as uncertain as the easy boxes: only difficulty differs
    # 1-3: near-duplicates with one easy box each; 4-5: near-duplicates with one box of
    # the hard class; the labeled image sits at the origin
    emb = {1: [10, 0], 2: [10, 0.01], 3: [10, 0.02], 4: [0, 10], 5: [0, 10.01], 100: [0, 0]}
    dets = {1: [easy], 2: [easy], 3: [easy], 4: [hard], 5: [hard]}

    def context(quality, prefilter):
        return FakeContext([1, 2, 3, 4, 5], dets, emb, quality=quality,
                           options={"class_weight": 0, "prefilter": prefilter})
    # prefilter 1 x k = 2: the shortlist is the batch. Class 1 handled as well as class
    # 0: a tie, the lower ids; class 1 handled badly: its images are weighed up
    assert sorted(_pick("dcus", context([1.0, 1.0], 1), 2)) == [1, 2]
    assert sorted(_pick("dcus", context([1.0, 0.0], 1), 2)) == [4, 5]
    # prefilter 4: every image shortlisted, then k-center: one of each group, never two
    # near-duplicates
    picks = _pick("dcus", context([1.0, 0.0], 4), 2)
    assert len(set(picks) & {1, 2, 3}) == 1 and len(set(picks) & {4, 5}) == 1
