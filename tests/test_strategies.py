"""Measures and selectors: known answers on tiny inputs, k-center greedy against the
plain algorithm, ranked batch against modAL."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from al_core.query.measures import (MEASURE_FUNCTIONS, MISSED_OBJECTS_SCORE, aggregate_per_image,
                                    detection_uncertainty, entropy, flip_boxes, flip_inconsistency,
                                    image_uncertainty, least_confidence, margin, rare_class_weights,
                                    with_background)
from al_core.query.selectors import (class_quotas, coverage_radius, select_k_center,
                                     select_k_center_with_quotas, select_ranked_batch, select_top_k,
                                     select_typical)
from al_core.query.strategies import STRATEGIES, check_options

ROWS = np.array([[1.0, 0.0, 0.0],  # certain
                 [1 / 3, 1 / 3, 1 / 3],  # uniform
                 [0.5, 0.5, 0.0],  # a tie between two classes
                 [0.7, 0.2, 0.1]], np.float32)


def test_measures_known_answers():
    np.testing.assert_allclose(least_confidence(ROWS), [0, 2 / 3, 0.5, 0.3], atol=1e-6)
    np.testing.assert_allclose(margin(ROWS), [0, 1, 1, 0.5], atol=1e-6)
    expected = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)) / np.log(3)
    np.testing.assert_allclose(entropy(ROWS), [0, 1, np.log(2) / np.log(3), expected], atol=1e-6)
    with pytest.raises(ValueError, match="2-d"):
        entropy(np.ones(3))


def test_background_column_makes_low_scores_certain_and_mid_scores_uncertain():
    rows = with_background(np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]]), np.array([0.06, 0.5, 0.9]))
    np.testing.assert_allclose(rows, [[0.06, 0, 0.94], [0.5, 0, 0.5], [0.45, 0.45, 0.1]], atol=1e-6)
    lc = least_confidence(rows)
    assert lc[0] == pytest.approx(0.06) and lc[1] == pytest.approx(0.5) and lc[2] == pytest.approx(0.55)


@settings(max_examples=50, deadline=None)
@given(m=st.integers(0, 30), c=st.integers(1, 6), seed=st.integers(0, 10 ** 6))
def test_background_measures_equal_the_measures_of_the_explicit_rows(m, c, seed):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(c) * rng.uniform(0.1, 3), m).astype(np.float32)
    probs[: m // 3] = np.eye(c, dtype=np.float32)[rng.integers(0, c, m // 3)]  # one-hot rows
    scores = rng.choice([0.05, 0.5, 1.0, rng.uniform(0.05, 1)], m).astype(np.float32)
    for name, fn in MEASURE_FUNCTIONS.items():
        np.testing.assert_allclose(detection_uncertainty(probs, scores, name),
                                   fn(with_background(probs, scores)), atol=2e-6)


def test_aggregation_per_image_and_images_without_detections():
    values = np.array([0.2, 0.8, 0.5, 0.1], np.float32)
    index = np.array([2, 0, 2, 0])  # unsorted on purpose
    np.testing.assert_allclose(aggregate_per_image(values, index, 4, "max"), [0.8, np.nan, 0.5, np.nan])
    np.testing.assert_allclose(aggregate_per_image(values, index, 4, "mean"), [0.45, np.nan, 0.35, np.nan])
    np.testing.assert_allclose(aggregate_per_image(values, index, 4, "sum"), [0.9, np.nan, 0.7, np.nan])
    with pytest.raises(ValueError, match="median"):
        aggregate_per_image(values, index, 4, "median")


def test_images_without_detections_are_possible_missed_objects_not_zero():
    probs = np.array([[0.5, 0.5], [0.98, 0.02]], np.float32)
    result = image_uncertainty(probs, np.array([0.9, 0.99]), np.array([0, 2]), 3,
                               measure="least_confidence")
    assert result.missed.tolist() == [False, True, False]
    assert result.scores[1] == MISSED_OBJECTS_SCORE > result.scores.max(initial=0, where=~result.missed)
    assert select_top_k(result.scores, 1).tolist() == [1]  # queried first, not last
    # under "sum" an image's score can pass 1: a missed image still ranks first
    probs = np.full((3, 2), 0.5, np.float32)
    result = image_uncertainty(probs, np.full(3, 0.5), np.array([0, 0, 0]), 2, aggregate="sum")
    assert result.scores[0] > 1 and result.missed.tolist() == [False, True]
    assert select_top_k(result.scores, 1).tolist() == [1]
    none = image_uncertainty(np.zeros((0, 2), np.float32), np.zeros(0), np.zeros(0), 2)
    assert none.scores.tolist() == [MISSED_OBJECTS_SCORE] * 2 and none.missed.all()


def test_missed_images_take_at_most_their_share_of_a_batch_drawn_at_random():
    from al_core.query.measures import ImageScores
    from al_core.query.strategies import capped_missed

    missed = np.array([True] * 6 + [False] * 4)
    scores = ImageScores(np.where(missed, 1.0, [0.1] * 6 + [0.2, 0.9, 0.4, 0.3]).astype(
        np.float32), missed)
    ranked = capped_missed(scores, 5, 0.4, np.random.default_rng(0))  # floor(0.4 * 5) = 2
    top = select_top_k(ranked, 5).tolist()
    assert sum(missed[top]) == 2 and top[2:] == [7, 8, 9]  # then by uncertainty
    draws = {tuple(sorted(select_top_k(capped_missed(scores, 5, 0.4, np.random.default_rng(s)),
                                       2).tolist())) for s in range(20)}
    assert len(draws) > 3 and all(set(d) <= set(range(6)) for d in draws)  # at random
    none = select_top_k(capped_missed(scores, 5, 0.0, np.random.default_rng(0)), 5).tolist()
    assert none[:4] == [7, 8, 9, 6] and missed[none[4]]  # only once the rest is used up
    assert capped_missed(scores, 5, 0.0, np.random.default_rng(0))[none[4]] == -np.inf
    assert select_top_k(capped_missed(scores, 9, 0.1, np.random.default_rng(0)), 1).tolist() \
        == [7]  # floor(0.9) = 0: a small batch holds none


def test_the_default_class_weight_2_lets_a_rarer_class_outrank_a_more_uncertain_box():
    from al_core.query.strategies import check_options

    counts = np.array([30, 10])  # mean 20: weights (21/31)**w and (21/11)**w
    uncertain = np.array([[0.5, 0.5]], np.float32)  # common class, a coin toss
    surer = np.array([[0.08, 0.92]], np.float32)  # rare class, fairly sure
    probs = np.concatenate([uncertain, surer])
    first = {w: select_top_k(image_uncertainty(
        probs, np.ones(2), np.array([0, 1]), 2, measure="least_confidence",
        weights=rare_class_weights(np.array([0, 1]), counts, w)).scores, 1).tolist()
        for w in (1, check_options({})["class_weight"])}
    assert first == {1: [0], 2: [1]}  # the default is 2, and 2 ranks otherwise than 1


def test_rare_class_weights_multiply_each_detection_before_aggregating():
    counts = np.array([300, 100, 0])  # labeled boxes per class; mean 133.3
    w = rare_class_weights(np.array([0, 1, 2, 2]), counts, 1.0)
    # a class without labels would weigh 134.3: capped, so one faint box cannot outrank all
    np.testing.assert_allclose(w, [134.33 / 301, 134.33 / 101, 10, 10], rtol=1e-3)
    np.testing.assert_allclose(rare_class_weights(np.array([0, 2]), counts, 0.0), [1, 1])
    probs = np.array([[0.6, 0.4, 0], [0.4, 0, 0.6]], np.float32)  # equally uncertain
    plain = image_uncertainty(probs, np.ones(2), np.array([0, 1]), 2)
    assert plain.scores[0] == pytest.approx(plain.scores[1])
    weighted = image_uncertainty(probs, np.ones(2), np.array([0, 1]), 2,
                                 weights=rare_class_weights(probs.argmax(1), counts, 0.5))
    # the box predicted as the rare class (2) makes its image rank first
    assert select_top_k(weighted.scores, 1).tolist() == [1]
    # weighted scores pass 1 under max too; an image without detections still ranks first
    heavy = image_uncertainty(probs, np.ones(2), np.array([0, 0]), 2, aggregate="max",
                              weights=np.array([5.0, 5.0]))
    assert heavy.scores[0] > 1 and select_top_k(heavy.scores, 1).tolist() == [1]
    with pytest.raises(ValueError, match="weights"):
        image_uncertainty(probs, np.ones(2), np.array([0, 1]), 2, weights=np.array([1.0, -1]))
    assert check_options({"class_weight": 1})["class_weight"] == 1
    for bad in (-1, 5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="class_weight"):
            check_options({"class_weight": bad})


def test_flip_inconsistency_known_answers():
    box = np.array([[10, 10, 30, 40]], np.float32)
    cls = np.array([[0.9, 0.1]], np.float32)
    same = (box, np.array([0.8]), cls)
    assert flip_inconsistency(same, same) == pytest.approx(0.0)
    vanished = (np.zeros((0, 4)), np.zeros(0), np.zeros((0, 2)))
    assert flip_inconsistency(same, vanished) == pytest.approx(0.8)  # its score
    switched = (box, np.array([0.8]), np.array([[0.1, 0.9]], np.float32))
    assert flip_inconsistency(same, switched) == pytest.approx(0.8 * (1 - 0.2))
    assert flip_inconsistency(vanished, vanished) == MISSED_OBJECTS_SCORE
    flipped = flip_boxes(box, 100)
    np.testing.assert_allclose(flipped, [[70, 10, 90, 40]])
    np.testing.assert_allclose(flip_boxes(flipped, 100), box)


def k_center_reference(x, k, centers=None):
    """The plain algorithm, literally, in float64."""
    x = np.asarray(x, np.float64)
    if centers is None or len(centers) == 0:
        chosen = [int(np.argmin(((x - x.mean(0)) ** 2).sum(1)))]
        dist = ((x - x[chosen[0]]) ** 2).sum(1)
    else:
        chosen = []
        dist = ((x[:, None, :] - np.asarray(centers, np.float64)[None]) ** 2).sum(2).min(1)
    while len(chosen) < k:
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, ((x - x[chosen[-1]]) ** 2).sum(1))
    return np.array(chosen)


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("with_centers", [False, True])
def test_k_center_picks_what_the_plain_algorithm_picks(clustered, with_centers):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3000, 24)).astype(np.float32)
    if clustered:
        x = x * 0.1 + rng.standard_normal((40, 24)).astype(np.float32)[rng.integers(0, 40, 3000)] * 3
    centers = rng.standard_normal((9, 24)).astype(np.float32) if with_centers else None
    # a small working set forces many rebuilds of it
    result = select_k_center(x, 150, centers=centers, working_set=64)
    expected = k_center_reference(x, 150, centers)
    known = np.zeros((0, 24)) if centers is None else centers
    got = coverage_radius(x, np.r_[known, x[result.indices]])
    exact = coverage_radius(x, np.r_[known, x[expected]])
    if clustered:  # float32 rounding may break a near-tie differently; the radius holds
        assert got == pytest.approx(exact, rel=5e-3)
    else:
        assert result.indices.tolist() == expected.tolist() and got == pytest.approx(exact)
    assert np.all(np.diff(result.distances[1:]) <= 1e-4)  # each pick no farther than the last


def test_k_center_is_aware_of_labeled_items():
    x = np.array([[0.0], [0.1], [5.0], [5.1], [10.0]], np.float32)
    picks = select_k_center(x, 2, centers=np.array([[0.05], [10.0]], np.float32))
    # the uncovered middle first (4.95 away), then its neighbour 0.1 away beats the
    # points next to the labeled 0.05 (0.05 away) and the labeled item's twin (0 away)
    assert picks.indices.tolist() == [2, 3]
    np.testing.assert_allclose(picks.distances, [4.95, 0.1], rtol=1e-5)


def test_k_center_with_quotas_guarantees_each_group_its_share():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 5)).astype(np.float32)
    groups = np.where(np.arange(400) < 8, 3, rng.integers(0, 2, 400))  # group 3 is rare
    x[groups == 3] *= 0.01  # and tightly packed, so plain k-center would take one of it
    picks = select_k_center_with_quotas(x, 20, groups, {3: 5, 0: 2})
    counts = np.bincount(groups[picks], minlength=4)
    assert len(set(picks.tolist())) == 20 and counts[3] >= 5 and counts[0] >= 2
    assert np.bincount(groups[select_k_center(x, 20).indices], minlength=4)[3] <= 1


def test_class_quotas_favour_classes_rare_in_the_labeled_set():
    quotas = class_quotas({1: 5, 2: 50, 3: 50}, {1: 0, 2: 100, 3: 10}, 20)
    assert quotas == {1: 5, 2: 1, 3: 14}  # 1 is capped by its 5 candidates
    assert sum(class_quotas({1: 2, 2: 3}, {}, 50).values()) == 5


def test_ranked_batch_picks_what_modal_picks():
    from modAL.batch import ranked_batch
    from modAL.models import ActiveLearner
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    pool, labeled, u = rng.standard_normal((1500, 12)), rng.standard_normal((25, 12)), rng.random(1500)
    learner = ActiveLearner(LogisticRegression(), X_training=labeled, y_training=np.arange(25) % 2)
    expected, _ = ranked_batch(learner, pool, u, 60, "euclidean", None)
    assert select_ranked_batch(pool, u, 60, labeled=labeled).tolist() == expected.tolist()
    cold = select_ranked_batch(pool, u, 10)
    assert len(set(cold.tolist())) == 10  # modAL can pick its cold-start item twice; not here
    # a summed or weighted uncertainty (max above 1) is scaled to [0, 1] first: otherwise
    # it would swamp the distance term and the rule would be plain uncertainty
    u[0] = 1.0
    picks = select_ranked_batch(pool, u, 60, labeled=labeled)
    assert select_ranked_batch(pool, 7 * u, 60, labeled=labeled).tolist() == picks.tolist()


def test_typicality_takes_the_densest_point_of_each_cluster():
    rng = np.random.default_rng(2)
    blobs = rng.standard_normal((4, 2)) * 50
    spread = np.r_[np.full(25, 0.01), np.full(35, 2.0)][:, None]  # a dense core of 25
    x = np.concatenate([b + rng.standard_normal((60, 2)) * spread for b in blobs])
    picks = select_typical(x, 4, seed=0)
    assert sorted(picks // 60) == [0, 1, 2, 3] and all(picks % 60 < 25)  # one core point each
    again = select_typical(x, 4, labeled=blobs[:3] + 0.1, seed=0)
    assert again[0] // 60 == 3  # the one blob no label covers comes first


def test_typicality_picks_the_centre_of_each_dense_cluster():
    """Two 5 x 5 grids far apart, and one far outlier: with a budget of 2, TypiClust
    (Hacohen et al. 2022) takes each grid's centre point, the one whose 20 nearest
    neighbours are closest on average; the outlier, the least typical, never."""
    grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), -1).reshape(-1, 2)  # (25, 2)
    x = np.concatenate([grid, grid + 100, [[50.0, -80.0]]])  # centres at 12 and 37
    for seed in range(3):
        assert sorted(select_typical(x, 2, seed=seed).tolist()) == [12, 37]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(0, 60), d=st.integers(1, 6), seed=st.integers(0, 99))
def test_selectors_return_k_distinct_positions(n, k, d, seed):
    k = min(k, n)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (n, d)).astype(np.float32)  # many duplicates and ties
    u = rng.random(n)
    for picks in (select_top_k(u, k), select_k_center(x, k, working_set=8).indices,
                  select_ranked_batch(x, u, k), select_typical(x, k, seed=seed),
                  select_k_center_with_quotas(x, k, rng.integers(0, 3, n), {0: k // 3})):
        assert len(picks) == k and len(set(picks.tolist())) == k
        assert all(0 <= p < n for p in picks)
    with pytest.raises(ValueError, match=f"cannot pick {n + 1} of {n}"):
        select_top_k(u, n + 1)


def test_registry_names_and_options_are_checked():
    assert {"random", "uncertainty", "consistency", "coreset", "hybrid"} <= set(STRATEGIES)
    assert all(s.description for s in STRATEGIES.values())
    assert check_options({"measure": "margin"})["measure"] == "margin"
    with pytest.raises(ValueError, match="prefiltr"):
        check_options({"prefiltr": 3})
    with pytest.raises(ValueError, match="class_share"):
        check_options({"class_share": 2})
