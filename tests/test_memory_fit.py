"""Training configs that cannot fit in memory are refused before anything is queued, by
the option to lower and the largest value that fits."""
from dataclasses import replace

import pytest

from al_core.training.candidates import create_candidate
from al_core.training.config import TrainConfig
from al_core.training.memory_fit import USABLE_FRACTION, check_fits, training_bytes
from tests.test_cli import cli

GIB = 2 ** 30


def test_the_default_config_fits_a_small_laptop():
    check_fits(TrainConfig(), 2_000, memory_bytes=8 * GIB)  # no error


def test_a_batch_too_large_names_batch_size_and_the_largest_that_fits():
    config = TrainConfig(arch="retinanet_resnet50_fpn", image_size=1024, batch_size=32)
    with pytest.raises(ValueError) as err:
        check_fits(config, 100, memory_bytes=16 * GIB)
    message = str(err.value)
    assert message.startswith("batch_size: ") and "\n" not in message
    assert "this machine has 16.0 GiB" in message and "from 1 to 1024" in message
    most = int(message.split("can be at most ")[1].split()[0])
    usable = 16 * GIB * USABLE_FRACTION
    assert training_bytes(replace(config, batch_size=most), 100) <= usable
    assert training_bytes(replace(config, batch_size=most + 1), 100) > usable


def test_images_too_large_even_one_at_a_time_name_image_size():
    config = TrainConfig(width=256, image_size=2048, batch_size=1024)
    with pytest.raises(ValueError, match=r"^image_size: .* image_size can be at most about "
                                         r"(\d+) here \(its range is an integer from 32 to "
                                         r"2048\)$") as err:
        check_fits(config, 100, memory_bytes=16 * GIB)
    size = int(str(err.value).split("at most about ")[1].split()[0])
    assert 32 <= size < 2048
    check_fits(replace(config, image_size=size, batch_size=1), 100, memory_bytes=16 * GIB)


def test_too_many_images_to_hold_says_so():
    with pytest.raises(ValueError, match="the 5,000,000 images do not fit"):
        check_fits(TrainConfig(), 5_000_000, memory_bytes=16 * GIB)


def test_create_candidate_refuses_before_anything_is_stored(demo_store):
    before = len(demo_store.models())
    with pytest.raises(ValueError, match="^image_size: this config needs about"):
        create_candidate(demo_store, override={"width": 256, "image_size": 2048,
                                               "batch_size": 1024})
    assert len(demo_store.models()) == before


def test_train_command_refuses_in_one_line(demo_store):
    from al_core.simulation.demo import label_from_oracle_at_random
    from al_core.training.split import split_project

    label_from_oracle_at_random(demo_store, 16, seed=0)  # something to train on, so the
    split_project(demo_store, seed=0)  # memory is what refuses it
    root = demo_store.root
    demo_store.close()
    out = cli("train", "--project", root, "--config",
              '{"width": 256, "image_size": 2048, "batch_size": 1024}', check=False)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    error = [ln for ln in out.stderr.splitlines() if "image_size" in ln]
    assert len(error) == 1 and "this config needs about" in error[0], out.stderr
