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


def _button(page, label):
    return next(b for b in page.button if b.label == label)


def test_compare_refuses_a_bad_config_or_applying_an_external_model(models_page, demo_store):
    assert any("Train a model first" in c.value for c in models_page.caption)
    external = demo_store.add_model(name="imported", arch="external", status="external")
    page = models_page.run()

    def compare_with(config: str):
        next(t for t in page.text_area if t.label == "Compare config (JSON)").input(config)
        _button(page, "Compare on the test split").click().run()

    compare_with('{"wins": "most"}')
    assert any("wins: 'most' is not a number" in e.value for e in page.error)
    compare_with('{"wins": "any"')
    assert any("the config is not valid JSON" in e.value for e in page.error)
    compare_with('{"wins": "any"}')
    assert any(f"model #{external} is an external model" in e.value for e in page.error)
    assert demo_store.jobs() == []


@pytest.mark.slow
def test_compare_from_the_page_promotes_the_first_model_then_gates_the_next(models_page,
                                                                            demo_store):
    from al_core.model_config import create_candidate
    from al_core.registry import train_model

    first = create_candidate(demo_store, override={"epochs": 1, "width": 4, "batch_size": 8,
                                                   "image_size": 64})
    train_model(demo_store, first)
    page = models_page.run()
    assert any("no active model yet" in c.value for c in page.caption)
    _button(page, "Compare on the test split").click().run()
    assert any("Started comparing model" in s.value for s in page.success)
    job = demo_store.jobs()[0]
    assert jobs.wait_for(demo_store, job["id"])["status"] == "succeeded"
    assert demo_store.active_model_id() == first  # the first model compared wins
    # its test predictions were made by the job: every test item was seen
    test_ids, _ = demo_store.test_set_identity()
    assert demo_store.items_without_embedding(first, test_ids) == []

    # the same weights again (warm start, lr 0): no class improves, so it is discarded
    same = create_candidate(demo_store, override={"warm_start": True, "lr": 0.0})
    train_model(demo_store, same)
    page = models_page.run()
    assert any(f"Active now: **#{first}" in c.value for c in page.caption)
    page.selectbox[0].select(next(m for m in page.selectbox[0].options if f"#{same} " in m))
    _button(page, "Compare on the test split").click().run()
    job = demo_store.jobs()[0]
    assert job["params"]["new_model_id"] == same
    final = jobs.wait_for(demo_store, job["id"])
    assert final["status"] == "succeeded" and "discard" in final["message"]
    assert demo_store.active_model_id() == first
    assert demo_store.model(same)["status"] == "discarded"
    page.run()
    table = next(d.value for d in page.dataframe if "decision" in d.value.columns)
    assert list(table["decision"]) == ["discard", "update_model"]
    assert list(table["old"]) == [f"#{first}", "(none)"]
