"""The Models page, headless: retrain from the UI (its own process), the override
checked inline, the model history with its decisions, rollback, the predict form."""
import pytest

from al_core.jobs import runner as jobs
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.training.split import split_project
from tests.apptest import open_page, read
from tests.datasets import add_model_from_labels

@pytest.fixture
def models_page(demo_store, monkeypatch):
    label_from_oracle_at_random(demo_store, 16, seed=0)
    split_project(demo_store, seed=0)
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    return _page()


def _page(name=None):
    return open_page("pages/models.py", annotator=name)


def _button(page, label):
    return next(b for b in page.button if b.label == label)


def _override(page):
    return next(t for t in page.text_area if t.label == "Override (JSON)")


def test_a_bad_override_is_refused_inline_and_starts_nothing(models_page, demo_store):
    page = models_page
    for text, message in (('{"epochz": 3}', "epochz"), ('{"arch": "yolo"}', "arch: unknown"),
                          ('{"epochs": 3', "not valid JSON"),
                          ('{"width": 256, "image_size": 2048, "batch_size": 1024}',
                           "image_size: this config needs about")):  # cannot fit in memory
        _override(page).input(text).run()
        assert any(message in read(e.value) for e in page.error), text
        assert _button(page, "Retrain").disabled
    _override(page).input('{"epochs": 3}').run()
    assert not page.error and not _button(page, "Retrain").disabled
    assert demo_store.models() == [] and demo_store.jobs() == []
    # no model is active: what follows the training is said in one line (no compare rule)
    assert any("Then: it becomes the active model (the first" in c.value for c in page.caption)
    assert not any("Promotes the new model only if" in c.value for c in page.caption)


@pytest.mark.slow
def test_retrain_started_from_the_page_trains_and_compares_in_its_own_process(models_page,
                                                                               demo_store):
    page = models_page
    _override(page).input('{"epochs": 1, "batch_size": 8, "width": 4, "image_size": 64}').run()
    _button(page, "Retrain").click().run()
    assert any("Retraining: model #1" in read(s.value) for s in page.success)
    job = demo_store.jobs()[0]
    assert job["pid"] and job["kind"] == "retrain"
    final = jobs.wait_for(demo_store, job["id"])
    assert final["status"] == "succeeded", final["error"]
    # the first model: active when the job ends, with no comparison
    assert demo_store.comparisons() == [] and demo_store.active_model_id() == 1
    page.run()
    table = next(d.value for d in page.dataframe if "version" in d.value.columns)
    assert list(table["status"]) == ["active"] and list(table["decision"]) == ["first model"]
    labeled = demo_store.count_items(split="train") + demo_store.count_items(split="val")
    assert table["labels"][0] == f"{labeled} · round 0"
    assert table["test mAP50"][0][0].isdigit()  # evaluated in the job


def test_history_shows_parents_decisions_and_config_changes_then_rolls_back(models_page,
                                                                          demo_store):
    s = demo_store
    first = add_model_from_labels(s, "first", keep=0.7, seed=1, status="trained")
    s.update_model(first, checkpoint_path="models/model-1.pt", config={"epochs": 80, "lr": 0.003},
                   metrics={"labeled_images": 14, "rounds": [0]})
    s.apply_decision(first, "update_model", decided_by="lead", why="first model")
    second = s.add_model(name="second", arch="compact", status="trained", parent_id=first,
                         config={"epochs": 40, "lr": 0.003})
    s.update_model(second, checkpoint_path="models/model-2.pt",
                   metrics={"labeled_images": 30, "rounds": [0, 1],
                            "pseudo_labeled_images": 12})
    s.apply_decision(second, "update_model", decided_by="ana", why="won 7 of 7 classes")
    page = _page("lead")
    table = next(d.value for d in page.dataframe if "version" in d.value.columns)
    rows = {r["version"]: r for _, r in table.iterrows()}
    assert set(rows) == {f"● #{second} second", f"#{first} first"}
    new, old = rows[f"● #{second} second"], rows[f"#{first} first"]
    assert new["parent"] == f"#{first}" and old["parent"] == "—"
    assert new["labels"] == "30 + 12 pseudo · rounds 0–1" and old["labels"] == "14 · round 0"
    assert new["decision"] == f"promoted over #{first}"
    assert old["decision"] == f"replaced by #{second}"
    why = next(m.value for m in page.markdown if f"- **#{second} second**" in m.value)
    assert f"**#{second} second** (config vs #{first}: epochs 80 → 40): promoted over " \
           f"#{first} (ana): won 7 of 7 classes" in read(why)
    assert old["test mAP50"] == "not evaluated" and new["test mAP50"] == "not evaluated"
    assert "None" not in " ".join(map(str, table.to_numpy().ravel()))
    assert "T" not in new["created"] and new["created"].startswith("today")

    _button(page, "Roll back").click().run()
    assert any("needs a reason" in e.value for e in page.error)
    next(t for t in page.text_input if t.label == "Why").input("second misses small digits")
    _button(page, "Roll back").click().run()
    assert s.active_model_id() == first
    rec = s.model_decisions(first)[0]
    assert (rec["action"], rec["decided_by"], rec["why"]) == \
        ("rollback", "lead", "second misses small digits")
    table = next(d.value for d in page.dataframe if "version" in d.value.columns)
    assert f"● #{first} first" in set(table["version"])


def test_the_predict_form_preselects_the_active_model(models_page, demo_store):
    s = demo_store
    ids = []
    for name in ("a", "b", "c"):
        m = s.add_model(name=name, arch="compact", status="trained")
        s.update_model(m, checkpoint_path=f"models/model-{m}.pt")
        ids.append(m)
    s.apply_decision(ids[1], "update_model")
    page = _page()
    pick = next(b for b in page.selectbox if b.label == "Model")
    assert pick.value["id"] == ids[1]


def test_a_running_training_shows_its_live_loss_and_val_map_chart(models_page, demo_store):
    import json
    import os

    from al_core.store import now

    job = demo_store.add_job("retrain", {"model_id": 1})
    log = "train 12 images\n" + "".join(
        json.dumps({"epoch": e, "epochs": 5, "loss": 3.0 / e, "val_map50": 0.1 * e}) + "\n"
        for e in (1, 2, 3))
    demo_store.update_job(job, status="running", pid=os.getpid(), heartbeat=now(), log=log,
                          progress=0.4, message="training model #1: epoch 3/5")
    page = _page()
    assert any("training model #1: epoch 3/5" in read(p.proto.text)
               for p in page.get("progress"))
    specs = [json.loads(c.proto.spec) for c in page.get("vega_lite_chart")]
    titles = {s.get("title", {}).get("text") if isinstance(s.get("title"), dict)
              else s.get("title") for s in specs}
    assert {"Training loss", "Validation mAP50"} <= titles


def test_before_the_first_model_the_fitted_config_and_its_warning_come_first(
        demo_store, monkeypatch):
    from al_core.types import Box, LabeledBox

    # 3-px boxes on the demo's 160-px images: under 4 px even at the largest fitted input
    (cls, *_) = [c.id for c in demo_store.classes()]
    ids = [i.id for i in demo_store.items(status="unlabeled", unsplit=True)][:12]
    for i in ids:
        demo_store.set_labels(i, [LabeledBox(cls, Box(10, 10, 13, 13))], source="human")
    demo_store.set_splits({i: "val" if k < 2 else "train" for k, i in enumerate(ids)})
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    page = _page()
    text = " ".join(read(m.value) for m in page.markdown)
    assert "Fitted to your labeled boxes" in text and "batch_size 4:" in text
    assert any("too small for the detector to find" in read(w.value) for w in page.warning)
