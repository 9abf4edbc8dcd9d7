"""The compact detector on the pretrained MobileNetV2 trunk (``compact_mobilenet_v2``):
its trunk is the verified file bit for bit, the stride-4 stage stays frozen (weights and
BatchNorm statistics), the rest trains; without the file it trains from scratch with a
hint; a checkpoint loads without the file; nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from al_core.training import backbone_weights as bw
from al_core.training.backbone_weights import WeightsFileError
from al_core.training.checkpoints import build_detector
from al_core.training.compact_pretrained import STAGES
from al_core.training.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CONFIG = TrainConfig(arch="compact_mobilenet_v2", width=8, image_size=64)


@pytest.fixture
def trunk_file(mobilenet_file):
    return mobilenet_file


@pytest.fixture
def cache(mobilenet_cache) -> Path:
    return mobilenet_cache


def _step(model) -> None:
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 30.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    sum(model.losses(images, targets).values()).backward()
    optimizer.step()


def test_the_trunk_is_the_file_and_only_its_stride_4_stage_stays_frozen(cache, trunk_file,
                                                                       no_sockets):
    path, state = trunk_file
    cache.write_bytes(path.read_bytes())

    model = build_detector(CONFIG, 2, seed=0).train()
    assert model.weights_hint is None
    stages = {"c4": STAGES[0], "c8": STAGES[1], "c16": STAGES[2]}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for name, (first, last) in stages.items():  # every tensor of the file, bit for bit
        for index in range(first, last):
            for key in [k for k in state if k.startswith(f"features.{index}.")]:
                own = f"{name}.{key[len('features.'):]}"  # slices keep the indices
                assert torch.equal(before[own], state[key]), own
    assert not model.c4.training and model.c8.training
    _step(model)
    after = model.state_dict()
    frozen = [k for k in after if k.startswith("c4.")]
    assert frozen and all(torch.equal(after[k], before[k]) for k in frozen)  # BN stats too
    assert not torch.equal(after["c8.4.conv.0.0.weight"], before["c8.4.conv.0.0.weight"])


def test_without_the_file_it_trains_from_scratch_and_says_so(cache):
    model = build_detector(CONFIG, 2, seed=0).train()
    assert model.weights_hint == bw.missing_hint()
    assert all(p.requires_grad for p in model.parameters()) and model.c4.training


def test_a_changed_file_is_refused_by_name(cache, trunk_file):
    path, _ = trunk_file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    cache.write_bytes(bytes(data))
    with pytest.raises(WeightsFileError, match="tampered or damaged"):
        build_detector(CONFIG, 2, seed=0)


def test_a_checkpoint_loads_and_predicts_without_the_file(cache, trunk_file):
    path, _ = trunk_file
    cache.write_bytes(path.read_bytes())
    trained = build_detector(CONFIG, 3, seed=0).train()
    _step(trained)
    state = trained.state_dict()
    cache.unlink()
    loaded = build_detector(CONFIG, 3)  # as load_checkpoint builds it: no seed, no file read
    assert loaded.weights_hint is None
    loaded.load_state_dict(state)
    loaded.eval()
    trained.eval()
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = trained(images), loaded(images)
        predictions = loaded.predict(images)
    assert torch.allclose(a["heatmap"], b["heatmap"]) and a["embedding"].shape == (2, 96)
    assert len(predictions) == 2
