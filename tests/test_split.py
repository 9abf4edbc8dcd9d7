from collections import Counter

import pytest

from al_core.simulation.demo import label_from_oracle_at_random
from al_core.training.split import parse_distribution, plan_split, split_project


@pytest.mark.parametrize("text, expected", [
    ("80/10/10", {"train": 0.8, "val": 0.1, "test": 0.1}),
    ("equal", {"train": 1 / 3, "val": 1 / 3, "test": 1 / 3}),
    ("train=7, val=2, test=1", {"train": 0.7, "val": 0.2, "test": 0.1}),
    ("70/30/0", {"train": 0.7, "val": 0.3, "test": 0.0}),
])
def test_parse_distribution(text, expected):
    assert parse_distribution(text) == pytest.approx(expected)


@pytest.mark.parametrize("text, message", [
    ("80/20", "train/val/test"), ("a/b/c", "not a number"), ("0/0/0", "no positive"),
    ("train=1,holdout=1", "unknown split 'holdout'"), ("80/-10/30", ">= 0"),
    ("nan/1/1", "finite number"), ("train=0.5,train=0.5", "given twice")])
def test_bad_distributions_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        parse_distribution(text)


def _items(n=200):
    # class 0 common, class 1 on every 10th image, class 2 on every 25th, some empty
    return {i: ([0] if i % 7 else []) + ([1] if i % 10 == 0 else []) + ([2] if i % 25 == 0 else [])
            for i in range(n)}


def test_plan_is_deterministic_for_a_seed_and_follows_the_distribution():
    items = _items()
    dist = parse_distribution("80/10/10")
    a, b = plan_split(items, dist, seed=5), plan_split(items, dist, seed=5)
    assert a == b
    assert plan_split(items, dist, seed=6) != a
    counts = Counter(a.values())
    assert counts == {"train": 160, "val": 20, "test": 20}


def test_plan_is_stratified_by_the_rarest_class():
    items = _items()
    plan = plan_split(items, parse_distribution("50/0/50"), seed=0)
    rare = [i for i, cs in items.items() if 2 in cs]  # 8 images
    assert Counter(plan[i] for i in rare) == {"train": 4, "test": 4}
    tens = [i for i, cs in items.items() if 1 in cs and 2 not in cs]
    assert abs(Counter(plan[i] for i in tens)["train"] - len(tens) / 2) <= 1


def test_test_split_stays_frozen_until_an_explicit_resplit(demo_store):
    test_before = {i.id for i in demo_store.items(split="test")}
    label_from_oracle_at_random(demo_store, 20, seed=1)
    report = split_project(demo_store, distribution=parse_distribution("equal"), seed=0)
    assert report.assigned["test"] == 0 and report.assigned["train"] + report.assigned["val"] == 20
    assert {i.id for i in demo_store.items(split="test")} == test_before
    assert demo_store.count_items(status="labeled", unsplit=True) == 0

    report = split_project(demo_store, distribution=parse_distribution("equal"), seed=0,
                           resplit=True)
    test_after = {i.id for i in demo_store.items(split="test")}
    assert report.totals["test"] == len(test_after) > 0
    assert test_after != test_before
    assert demo_store.status().test_frozen


def test_frozen_test_with_only_a_test_share_is_refused(demo_store):
    label_from_oracle_at_random(demo_store, 4, seed=1)
    with pytest.raises(ValueError, match="frozen"):
        split_project(demo_store, distribution=parse_distribution("0/0/1"))


def test_unlabeled_items_are_never_split(demo_store):
    split_project(demo_store, resplit=True)
    assert all(i.split is None for i in demo_store.items(status="unlabeled"))
