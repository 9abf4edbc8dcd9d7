"""Fixtures: a fresh empty project, a tiny demo project, tiny image folders."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from al_core.demo import DemoConfig, create_demo_project
from al_core.store import Store

TINY_DEMO = DemoConfig(n_images=40, test_size=8, seed=3)


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
