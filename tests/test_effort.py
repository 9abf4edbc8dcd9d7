"""Annotator time: the published cost model on known cases, the fit from reviews (known
coefficients recovered, the minimum, outliers, rare actions), the fit read from a
project's reviews table, and seconds in the simulation's curves and results."""
from __future__ import annotations

import json

import numpy as np
import pytest

from al_core.review.changes import ChangeCounts
from al_core.review.corrections import summed_changes
from al_core.review.effort import (ACTIONS, DRAW_SECONDS, CostModel, counts_from_dict,
                                   published_model)
from al_core.review.effort_fit import (MAX_SECONDS, MIN_ACTION_REVIEWS, MIN_REVIEWS,
                                       TimedReview, describe_cost, fit_cost_model,
                                       project_cost_model, timed_reviews)
from al_core.simulation import results
from al_core.simulation.simulate import _round_cost

TRUE = CostModel(image=4.0, kept=1.2, moved=6.0, relabeled=3.0, deleted=2.0, added=12.0)


# -- the published model ---------------------------------------------------------------
def test_published_constants_and_a_known_image():
    model = published_model()
    assert model.as_dict() == {"image": 3.0, "kept": 1.6, "moved": 12.75, "relabeled": 3.6,
                               "deleted": 2.6, "added": 25.5}
    # 2 kept + 1 added + 1 deleted: 3.0 + 2 x 1.6 + 25.5 + (1.6 + 1.0)
    assert model.seconds(ChangeCounts(kept=2, added=1, deleted=1)) == pytest.approx(34.3)
    # an untouched image still costs its viewing; a moved and relabeled box pays both
    assert model.seconds(ChangeCounts()) == 3.0
    assert model.seconds(ChangeCounts(moved=1, relabeled=1)) == pytest.approx(3 + 12.75 + 3.6)


def test_the_draw_constant_is_selectable_and_a_move_is_half_a_draw():
    assert DRAW_SECONDS == {"su2012": 25.5, "traditional": 34.5, "extreme_clicking": 7.0}
    extreme = published_model("extreme_clicking")
    assert (extreme.added, extreme.moved, extreme.kept) == (7.0, 3.5, 1.6)
    assert published_model("traditional").added == 34.5
    with pytest.raises(ValueError, match="'freehand' is not one of su2012"):
        published_model("freehand")


def test_the_model_is_linear_over_images_and_refuses_negative_seconds():
    model = published_model()
    images = [ChangeCounts(kept=3), ChangeCounts(added=2, moved=1), ChangeCounts(deleted=4)]
    total = summed_changes(images)
    assert total == ChangeCounts(kept=3, moved=1, deleted=4, added=2)
    assert model.seconds(total, images=3) == pytest.approx(sum(map(model.seconds, images)))
    with pytest.raises(ValueError, match="moved = -1"):
        CostModel(image=1, kept=1, moved=-1, relabeled=1, deleted=1, added=1)
    row = {"kept": 2, "moved": 0, "relabeled": 1, "deleted": 0, "added": 5, "seconds": 9}
    assert counts_from_dict(row) == ChangeCounts(kept=2, relabeled=1, added=5)


# -- the fit ---------------------------------------------------------------------------
def synthetic(n: int, *, noise: float = 0.0, seed: int = 0, model: CostModel = TRUE,
              columns: tuple[str, ...] = ("kept", "moved", "relabeled", "deleted", "added")
              ) -> list[TimedReview]:
    rng = np.random.default_rng(seed)
    reviews = []
    for _ in range(n):
        counts = ChangeCounts(**{a: int(rng.integers(0, 5)) for a in columns})
        reviews.append(TimedReview(model.seconds(counts) + float(rng.normal(0, noise))
                                   if noise else model.seconds(counts), counts))
    return reviews


def test_the_fit_recovers_known_seconds_exactly_without_noise():
    fit = fit_cost_model(synthetic(40))
    assert fit.fitted == ACTIONS and fit.n == 40
    for action in ACTIONS:
        assert getattr(fit.model, action) == pytest.approx(getattr(TRUE, action), abs=1e-6)
    assert fit.residual_sd == pytest.approx(0, abs=1e-6)


def test_the_fit_recovers_known_seconds_within_their_spread_with_noise():
    fit = fit_cost_model(synthetic(300, noise=2.0, seed=3))
    assert fit.residual_sd == pytest.approx(2.0, rel=0.15)
    for action in ACTIONS:
        value, (low, high) = getattr(fit.model, action), fit.interval[action]
        assert low <= value <= high and 0 < fit.standard_error[action] < 0.5
        assert value == pytest.approx(getattr(TRUE, action), abs=4 * fit.standard_error[action])
    assert fit.model.added == pytest.approx(12.0, abs=0.3)


def test_the_fit_keeps_every_second_non_negative():
    # reviews where boxes seem to save time: least squares would give a negative cost
    reviews = [TimedReview(20.0 - 2 * k, ChangeCounts(kept=k)) for k in range(5)] * 8
    fit = fit_cost_model(reviews)
    assert fit.model.kept == 0.0 and fit.model.image > 0
    assert all(low >= 0 for low, _ in fit.interval.values())


def test_below_the_minimum_the_fit_refuses_and_the_project_uses_published_constants(store):
    with pytest.raises(ValueError, match=f"29 timed reviews; the fit needs at least "
                                         f"{MIN_REVIEWS}"):
        fit_cost_model(synthetic(MIN_REVIEWS - 1))
    _save_reviews(store, synthetic(12))
    cost = project_cost_model(store)
    assert cost.source == "published" and cost.fit is None
    assert cost.model == published_model() and (cost.usable, cost.needed) == (12, 18)
    assert "Published constants in use" in describe_cost(cost)
    assert "18 more" in describe_cost(cost)


def test_an_action_seldom_seen_keeps_its_published_constant():
    reviews = synthetic(60, columns=("kept", "moved", "deleted", "added"))
    rare = ChangeCounts(relabeled=1)
    reviews += [TimedReview(TRUE.seconds(rare), rare)] * (MIN_ACTION_REVIEWS - 1)
    fit = fit_cost_model(reviews, prior=published_model())
    assert "relabeled" not in fit.fitted and fit.model.relabeled == 3.6
    assert "relabeled" not in fit.interval
    # the other actions are still fitted, the rare one's assumed seconds taken off first
    assert fit.model.added == pytest.approx(12.0, abs=0.2)


def test_outliers_imports_and_untimed_reviews_are_left_out():
    def row(seconds, action="save", **counts):
        return {"seconds": seconds, "action": action,
                **{a: counts.get(a, 0) for a in ACTIONS[1:]}}
    rows = [row(12.0, kept=2), row(MAX_SECONDS + 1, added=1), row(3 * 3600, "accept"),
            row(None), row(5.0, "import"), row(5.0, "oracle"), row(0.0), row(MAX_SECONDS)]
    reviews, over = timed_reviews(rows)
    assert [r.seconds for r in reviews] == [12.0, MAX_SECONDS] and over == 2
    # a fit with reviews left open over lunch equals the fit without them
    clean = synthetic(40)
    lunch = [TimedReview(2 * 3600.0, ChangeCounts(kept=1))] * 3
    rows = [row(r.seconds, **r.counts.as_dict()) for r in clean + lunch]
    kept, over = timed_reviews(rows)
    assert over == 3 and fit_cost_model(kept).model == fit_cost_model(clean).model


def _save_reviews(store, reviews, *, action="save"):
    start = store.count_items()
    for i, review in enumerate(reviews, start):
        item = store.add_item(file=f"r{i}.png", width=64, height=64, sha256=f"h{i}",
                              source="test")
        store.save_review(item, [], author="ana", action=action, source="human",
                          selection_id=None, round=None, seconds=review.seconds,
                          prelabels=0, changes=review.counts.as_dict(), reason="test")


def test_the_project_fit_reads_the_reviews_table(store):
    _save_reviews(store, synthetic(MIN_REVIEWS + 10))
    # imported reviews' seconds are no person's time: counted, they would spoil the fit
    _save_reviews(store, synthetic(5, model=CostModel(90, 0, 0, 0, 0, 0)), action="import")
    _save_reviews(store, [TimedReview(4000.0, ChangeCounts(kept=1))])  # left open
    cost = project_cost_model(store)
    assert cost.source == "fitted" and cost.fit.n == MIN_REVIEWS + 10 == cost.usable
    assert cost.over_cap == 1 and cost.needed == 0
    assert cost.model.added == pytest.approx(12.0, abs=1e-6)
    assert cost.published == published_model()
    text = describe_cost(cost)
    assert text.startswith("Fitted from 40 timed reviews")
    assert "1 timed review longer than 10 minutes (an image left open) is left out" in text


# -- seconds in the simulation ----------------------------------------------------------
def test_a_simulated_round_without_pre_labels_costs_its_images_and_every_box_drawn(
        demo_store):
    ids = [i.id for i in demo_store.items()][8:20]
    boxes = sum(len(b) for b in demo_store.oracle_boxes(ids).values())
    cost = _round_cost(demo_store, 0, "random", 0, ids)
    assert cost == {"boxes": boxes, "corrections": boxes,
                    "seconds": pytest.approx(3.0 * len(ids) + 25.5 * boxes)}
    # a run whose rounds were counted before seconds were estimated reports none
    demo_store.set_meta("sim-cost-round-0", json.dumps({"boxes": 5, "corrections": 4}))
    assert _round_cost(demo_store, 0, "random", 0, ids) == {"boxes": 5, "corrections": 4,
                                                            "seconds": None}


def _strategy(*runs, seconds=True):
    return {"seeds": {str(s): [{"labeled": n, "map50": m, "boxes": 3 * n, "corrections": n,
                                **({"seconds": sec} if seconds else {})}
                               for n, m, sec in run] for s, run in enumerate(runs)}}


def test_results_report_seconds_and_old_curves_without_them_still_load(tmp_path):
    random = _strategy([(10, 0.1, 300), (20, 0.3, 500), (30, 0.5, 800)],
                       [(10, 0.1, 300), (20, 0.3, 700), (30, 0.5, 800)])
    picky = _strategy([(10, 0.1, 300), (20, 0.5, 400), (30, 0.7, 600)],
                      [(10, 0.1, 300), (20, 0.5, 400), (30, 0.7, 600)])
    summary = results.summarize({"strategies": {"random": random, "picky": picky}})
    row = summary["strategies"]["picky"]
    assert row["mean_seconds"] == [300, 400, 600]
    assert row["to_random_final"]["seconds"] == {"needed": 400, "random": 800,
                                                 "fraction": 0.5}
    table = results.format_table(summary)
    assert "share of random's seconds" in table.splitlines()[0]
    assert "| picky | 0.100 / 0.500 / 0.700 | 20 | 67% | 67% | 67% | 50% | +0.0 points |" \
        in table
    results.plot_curves({"strategies": {"random": random, "picky": picky}},
                        tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"

    old = {"random": random, "picky": _strategy(
        [(10, 0.1, None), (20, 0.5, None), (30, 0.7, None)], seconds=False)}
    assert not results.has_unit(old["picky"], "seconds")
    summary = results.summarize({"strategies": old})
    row = summary["strategies"]["picky"]
    assert "mean_seconds" not in row and set(row["to_random_final"]) == {
        "images", "boxes", "corrections"}
    assert results.format_table(summary).splitlines()[-1].endswith("| 67% | - | +0.0 points |")
    results.plot_curves({"strategies": old}, tmp_path / "old.png")
    assert (tmp_path / "old.png").exists()
