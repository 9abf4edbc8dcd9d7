"""TrainConfig's checks: every numeric key has a range, and a value outside it is refused
with a message that names the key, the value and the range."""
import math

import pytest

from al_core.training.config import RANGES, TrainConfig, merge_config

BAD_VALUES = [
    ("lr", 0, "a number > 0 and <= 1"), ("lr", -0.1, "> 0"), ("lr", 1.5, "<= 1"),
    ("lr", math.nan, "> 0"), ("lr", "fast", "> 0"), ("lr", True, "> 0"),
    ("weight_decay", -1e-4, "a number >= 0 and < 1"), ("weight_decay", 1, "< 1"),
    ("batch_size", 0, "an integer from 1 to 1024"), ("batch_size", 1025, "1 to 1024"),
    ("batch_size", 8.0, "an integer"),
    ("image_size", 16, "an integer from 32 to 2048"), ("image_size", 4096, "32 to 2048"),
    ("epochs", 0, "an integer from 1 to 10000"), ("epochs", 10001, "1 to 10000"),
    ("epochs", False, "an integer"),
    ("width", 2, "an integer from 4 to 256"), ("width", 512, "4 to 256"),
    ("patience", -1, "an integer from 0 \\(off\\) to 10000"), ("patience", 2.5, "integer"),
    ("time_budget_s", 0, "a number of seconds > 0"), ("time_budget_s", -5, "> 0"),
    ("time_budget_s", math.inf, "a week"), ("time_budget_s", "3m", "> 0"),
    ("repeat_threshold", -0.1, "a number from 0 \\(off\\) to 1"),
    ("repeat_threshold", 1.5, "0 \\(off\\) to 1"),
    ("ema_decay", 1, "a number >= 0 \\(off\\) and < 1"), ("ema_decay", -0.5, "< 1"),
    ("seed", -1, "an integer from 0 to 4294967295"), ("seed", 2**32, "0 to 4294967295"),
    ("seed", 1.0, "an integer"),
    ("pseudo_label_score", 1, "0 \\(off\\), or a score above 0.2 and below 1"),
    ("pseudo_label_score", -0.5, "above 0.2"), ("pseudo_label_score", 0.15, "above 0.2"),
]


@pytest.mark.parametrize("key, value, says", BAD_VALUES)
def test_a_value_out_of_range_is_refused_with_its_key_value_and_range(key, value, says):
    with pytest.raises(ValueError, match=f"^{key}: .* is out of range \\(it must be .*{says}"):
        merge_config(TrainConfig(), {key: value})
    with pytest.raises(ValueError, match=f"^{key}: {value!r}".replace("(", "\\(")):
        TrainConfig(**{key: value})


def test_every_numeric_key_has_a_range_and_a_bad_value_in_the_table():
    numeric = {f for f, v in TrainConfig().to_dict().items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)} | {"time_budget_s"}
    assert numeric == set(RANGES)
    assert {key for key, _, _ in BAD_VALUES} == set(RANGES)


@pytest.mark.parametrize("override", [
    {"lr": 1}, {"lr": 1e-6}, {"weight_decay": 0}, {"weight_decay": 0.5},
    {"batch_size": 1}, {"batch_size": 1024}, {"image_size": 32}, {"image_size": 2048},
    {"image_size": 150}, {"epochs": 1}, {"epochs": 10000}, {"width": 4}, {"width": 256},
    {"patience": 0}, {"patience": 10}, {"time_budget_s": None}, {"time_budget_s": 0.5},
    {"time_budget_s": 180}, {"repeat_threshold": 0}, {"repeat_threshold": 1},
    {"ema_decay": 0}, {"ema_decay": 0.999}, {"seed": 0}, {"seed": 2**32 - 1},
    {"pseudo_label_score": 0}, {"pseudo_label_score": 0.21}, {"pseudo_label_score": 0.99}])
def test_the_ends_of_each_range_are_accepted(override):
    config = merge_config(TrainConfig(), override)
    assert all(getattr(config, k) == v for k, v in override.items())


def test_the_defaults_stop_on_a_plateau_and_have_no_time_budget():
    config = TrainConfig()
    assert config.patience > 0 and config.time_budget_s is None
