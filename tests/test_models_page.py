"""The Models page, headless: start a training job from the UI and see it in the panel."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from al_core import jobs
from al_core.demo import label_from_oracle_at_random
from al_core.split import split_project

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def models_page(demo_store, monkeypatch):
    label_from_oracle_at_random(demo_store, 16, seed=0)
    split_project(demo_store, seed=0)
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page("pages/models.py").run()


def test_bad_override_is_refused_by_name(models_page, demo_store):
    models_page.text_area[0].input('{"epochz": 3}')
    next(b for b in models_page.button if b.label == "Train").click().run()
    assert any("epochz" in e.value for e in models_page.error)
    models_page.text_area[0].input('{"arch": "yolo"}')  # refused before any model or job
    next(b for b in models_page.button if b.label == "Train").click().run()
    assert any("arch: unknown 'yolo'" in e.value for e in models_page.error)
    models_page.text_area[0].input('{"epochs": 3')
    next(b for b in models_page.button if b.label == "Train").click().run()
    assert any("the override is not valid JSON" in e.value for e in models_page.error)
    assert demo_store.models() == [] and demo_store.jobs() == []


@pytest.mark.slow
def test_training_started_from_the_page_runs_in_its_own_process(models_page, demo_store):
    models_page.text_area[0].input('{"epochs": 1, "batch_size": 8, "width": 4}')
    next(b for b in models_page.button if b.label == "Train").click().run()
    assert any("Started training model" in s.value for s in models_page.success)
    job = demo_store.jobs()[0]
    assert job["pid"] and job["kind"] == "train"
    final = jobs.wait_for(demo_store, job["id"])
    assert final["status"] == "succeeded"
    models_page.run()
    table = next(d.value for d in models_page.dataframe if "arch" in d.value.columns)
    assert list(table["status"]) == ["trained"]
