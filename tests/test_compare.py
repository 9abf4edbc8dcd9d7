import numpy as np
import pytest

from al_core.decide.compare import CompareConfig, decide, parse_compare_config
from al_core.decide.comparison import compare_models
from al_core.evaluation.metrics import ClassResult, EvalResult
from al_core.evaluation.model_eval import check_same_test_set, evaluate_model
from tests.datasets import add_model_from_labels as _add_model

DATALOOP = {"checks": {"precision_recall": {"iou_threshold": 0.5, "min_delta": 0.0}},
            "wins": "any"}


def result(*aps):
    per_class = {k + 1: ClassResult(ap, 10, np.zeros(101)) for k, ap in enumerate(aps)}
    return EvalResult(0.5, float(np.mean(aps)), per_class)


def config(**overrides):
    raw = {"checks": {"precision_recall": {"iou_threshold": 0.5,
                                           "min_delta": overrides.pop("min_delta", 0.0)}},
           **overrides}
    return parse_compare_config(raw)


def test_dataloops_config_is_accepted_as_is():
    assert parse_compare_config(DATALOOP) == CompareConfig()
    assert parse_compare_config({"wins": "0.6"}).wins == 0.6  # Dataloop's docs use a string


@pytest.mark.parametrize("wins, new, old, expected", [
    ("any", (0.6, 0.4, 0.4), (0.5, 0.5, 0.5), "update_model"),
    ("any", (0.5, 0.4, 0.4), (0.5, 0.5, 0.5), "discard"),
    ("all", (0.6, 0.6, 0.6), (0.5, 0.5, 0.5), "update_model"),
    ("all", (0.6, 0.6, 0.5), (0.5, 0.5, 0.5), "discard"),
    (0.6, (0.6, 0.6, 0.5), (0.5, 0.5, 0.5), "update_model"),  # 2/3 >= 0.6
    ("0.7", (0.6, 0.6, 0.5), (0.5, 0.5, 0.5), "discard"),  # 2/3 < 0.7
    (1, (0.6, 0.6, 0.6), (0.5, 0.5, 0.5), "update_model"),
    (0, (0.1, 0.1, 0.1), (0.5, 0.5, 0.5), "update_model"),
])
def test_every_wins_form(wins, new, old, expected):
    assert decide(result(*new), result(*old), config(wins=wins)).decision == expected


def test_min_delta_must_be_exceeded_not_met():
    cfg = config(min_delta=0.125)
    assert decide(result(0.625), result(0.5), cfg).decision == "discard"  # exactly 0.125
    assert decide(result(0.6251), result(0.5), cfg).decision == "update_model"
    assert decide(result(0.5), result(0.5), config()).decision == "discard"  # a tie is no win


def test_max_class_drop_guards_against_a_regression():
    cfg = parse_compare_config({**DATALOOP, "max_class_drop": 0.05})
    d = decide(result(0.9, 0.4), result(0.5, 0.5), cfg)
    assert d.decision == "discard" and "max_class_drop" in d.reason
    assert decide(result(0.9, 0.46), result(0.5, 0.5), cfg).decision == "update_model"


def test_first_model_wins():
    d = decide(result(0.1, 0.2), None, config(wins="all"))
    assert d.decision == "update_model" and "first model" in d.reason


@pytest.mark.parametrize("raw, message", [
    ({"wins": "most"}, "wins: 'most' is not a number"),
    ({"wins": 1.5}, r"wins: 1.5 is outside \[0.0, 1.0\]"),
    ({"wins": -0.1}, "wins: -0.1 is outside"),
    ({"winz": "any"}, "unknown key.*winz"),
    ({"checks": {"precision_recall": {"iou": 0.5}}}, "checks.precision_recall: unknown key.*iou"),
    ({"checks": {"recall": {}}}, "checks: unknown key.*recall"),
    ({"checks": {"precision_recall": {"iou_threshold": "high"}}}, "iou_threshold: 'high'"),
    ({"checks": {"precision_recall": {"min_delta": float("nan")}}}, "min_delta: nan"),
    ({"bootstrap": {"samples": -3}}, "bootstrap.samples: -3"),
    ([1], "expected a JSON object"),
])
def test_bad_configs_name_the_key_and_value(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_compare_config(raw)


def test_model_evaluation_is_stored_with_the_test_set_identity(demo_store):
    model = _add_model(demo_store, "perfect")
    result_, digest = evaluate_model(demo_store, model)
    assert result_.map == pytest.approx(1.0)
    row = demo_store.evaluation(model, digest, 0.5)
    assert row["map"] == pytest.approx(1.0) and len(row["pr_curves"]) == len(result_.per_class)
    # relabeling a test item changes the identity
    item = demo_store.items(split="test")[0]
    demo_store.set_labels(item.id, [], source="human")
    assert demo_store.test_set_identity()[1] != digest
    again, new_digest = evaluate_model(demo_store, model)  # re-evaluated, not reused
    assert new_digest != digest and demo_store.evaluation(model, new_digest, 0.5)
    assert again.per_class != result_.per_class or again.map != result_.map


def test_compare_refuses_the_first_model_then_gates_the_next(demo_store):
    """With no model active there is nothing to compare with: no comparison is stored
    (the first model used to be "promoted" by one, whatever its AP)."""
    good = _add_model(demo_store, "good", keep=0.95, seed=1)
    worse = _add_model(demo_store, "worse", keep=0.5, seed=2)
    cfg = parse_compare_config(DATALOOP)
    with pytest.raises(ValueError, match=f"no model is active, so model #{good} has nothing "
                                         "to compare with"):
        compare_models(demo_store, good, None, cfg, raw_config=DATALOOP)
    assert demo_store.comparisons() == [] and demo_store.model_decisions() == []
    demo_store.apply_decision(good, "update_model")
    assert demo_store.active_model_id() == good
    d = compare_models(demo_store, worse, None, cfg, raw_config=DATALOOP)
    assert d.decision == "discard" and all(not c.won for c in d.per_class)
    stored = demo_store.db.execute("SELECT decision, old_model_id FROM comparisons "
                                   "ORDER BY id").fetchall()
    assert stored == [("discard", good)]
    with pytest.raises(ValueError, match="external model"):
        compare_models(demo_store, worse, None, cfg, raw_config=DATALOOP, apply=True)


def test_applying_refuses_when_another_model_was_promoted_meanwhile(demo_store, monkeypatch):
    from al_core.decide import comparison

    first = _add_model(demo_store, "first", keep=0.6, seed=1, status="trained")
    demo_store.apply_decision(first, "update_model")
    other = demo_store.add_model(name="other", arch="compact", status="trained")
    new = _add_model(demo_store, "new", keep=0.95, seed=2, status="trained")
    real = comparison.decide

    def decide_while_another_is_promoted(*args, **kwargs):  # a second compare job won
        demo_store.apply_decision(other, "update_model")
        return real(*args, **kwargs)
    monkeypatch.setattr(comparison, "decide", decide_while_another_is_promoted)
    with pytest.raises(ValueError, match="the active model changed while model"):
        compare_models(demo_store, new, None, parse_compare_config(DATALOOP),
                       raw_config=DATALOOP, apply=True)
    assert demo_store.active_model_id() == other  # not demoted by a stale comparison
    assert demo_store.db.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 0


def test_bootstrap_is_deterministic_for_a_seed(demo_store):
    a = _add_model(demo_store, "a", keep=0.9, jitter=1.0, seed=3)
    b = _add_model(demo_store, "b", keep=0.8, jitter=1.0, seed=4)
    raw = {**DATALOOP, "bootstrap": {"samples": 60, "seed": 7, "min_confidence": 0.99}}
    cfg = parse_compare_config(raw)
    first = compare_models(demo_store, a, b, cfg, raw_config=raw)
    second = compare_models(demo_store, a, b, cfg, raw_config=raw)
    assert first.confidence == second.confidence and first.delta_interval == second.delta_interval
    assert 0.0 <= first.confidence <= 1.0
    lo, hi = first.delta_interval
    assert lo <= hi
    other = parse_compare_config({**raw, "bootstrap": {"samples": 60, "seed": 8}})
    assert compare_models(demo_store, a, b, other, raw_config=raw).delta_interval != \
        first.delta_interval


def test_a_mismatched_test_set_is_refused():
    check_same_test_set("abc", "abc")
    with pytest.raises(ValueError, match="different test sets"):
        check_same_test_set("abc", "abd")


def test_no_predictions_on_the_test_split_is_explained(demo_store):
    empty = demo_store.add_model(name="empty", arch="external", status="external")
    with pytest.raises(ValueError, match="no predictions on the 8 items asked for"):
        evaluate_model(demo_store, empty)


def test_a_model_that_never_saw_some_test_items_is_not_scored_on_them(demo_store):
    model = _add_model(demo_store, "partial")
    test = [i.id for i in demo_store.items(split="test")]
    demo_store.replace_predictions(model, test[:5], [], [(i, b"\0" * 8) for i in test[:5]])
    with pytest.raises(ValueError, match="has not predicted 3 of the 8 items asked for"):
        evaluate_model(demo_store, model)


def test_the_default_config_never_promotes_the_regression_a_new_user_hit():
    """Dataloop's "wins": "any" promoted a model that lost 9 of 10 classes (mAP50 0.842 ->
    0.776, one class down 14.6 points); the default the app and CLI offer discards it."""
    from al_core.decide.compare import DEFAULT_COMPARE_CONFIG

    old = [0.842] * 10
    new = [0.842 + 0.05] + [0.842 - 0.055] * 8 + [0.842 - 0.146]
    assert decide(result(*new), result(*old), parse_compare_config(DATALOOP)).decision == \
        "update_model"  # Dataloop's own example, accepted as-is
    d = decide(result(*new), result(*old), parse_compare_config(DEFAULT_COMPARE_CONFIG))
    assert d.decision == "discard" and "min_map_gain" in d.reason
    # a lower mAP is refused even when no class drops past max_class_drop
    small = [0.842 + 0.01] + [0.842 - 0.02] * 9
    d = decide(result(*small), result(*old), parse_compare_config(DEFAULT_COMPARE_CONFIG))
    assert d.decision == "discard" and "mAP went from" in d.reason
    # one class lost badly while the mean rises: max_class_drop decides
    mixed = [0.99] * 9 + [0.842 - 0.1]
    d = decide(result(*mixed), result(*old), parse_compare_config(DEFAULT_COMPARE_CONFIG),
               names={10: "nine"})
    assert d.decision == "discard" and "max_class_drop" in d.reason and "mAP rose" in d.reason
    assert "but class nine dropped 0.100 AP" in d.reason
    better = [0.9] * 10
    d = decide(result(*better), result(*old), parse_compare_config(DEFAULT_COMPARE_CONFIG))
    assert d.decision == "update_model" and "no class dropped more than 0.05" in d.reason


def test_inputs_are_bounded_and_never_echoed_whole():
    """A bootstrap of 10^12 samples tried to allocate 7 TiB; a 20 MB string came back whole
    in the error."""
    from al_core.training.config import TrainConfig, merge_config

    with pytest.raises(ValueError, match=r"bootstrap.samples: 1000000000000 is not an "
                                         r"integer in \[0, 100,000\]"):
        parse_compare_config({"bootstrap": {"samples": 10 ** 12}})
    with pytest.raises(ValueError, match=r"bootstrap.seed: .* in \[0, 2\^63\)"):
        parse_compare_config({"bootstrap": {"seed": 2 ** 64}})
    huge = "x" * 20_000_000
    for call in (lambda: parse_compare_config({"wins": huge}),
                 lambda: merge_config(TrainConfig(), {"arch": huge}),
                 lambda: merge_config(TrainConfig(), {"device": huge})):
        with pytest.raises(ValueError) as info:
            call()
        assert len(str(info.value)) < 300 and "xxx..." in str(info.value)
