"""The pages, headless, with Streamlit's AppTest."""
import pytest
from streamlit.testing.v1 import AppTest

from pathlib import Path

from al_core.simulation.demo import label_from_oracle_at_random
from tests.apptest import read

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    at = AppTest.from_file(APP, default_timeout=60)
    return at.run()


def _metrics(at):
    return {m.label: m.value for m in at.metric}


def test_project_page_shows_the_counts(app):
    assert not app.exception
    metrics = _metrics(app)
    assert metrics["Images"] == "40" and metrics["Labeled"] == "8"
    assert metrics["Unlabeled pool"] == "32" and metrics["Test set"] == "8"
    table = app.dataframe[0].value
    assert table.loc["test", "labeled"] == 8 and table.loc["pool", "unlabeled"] == 32


def test_split_form_assigns_new_labels(app, demo_store):
    label_from_oracle_at_random(demo_store, 10, seed=0)
    app.run()
    assert any("**10** labeled items have no split yet" in m.value for m in app.markdown)
    app.button[0].click().run()  # "Split labeled items"
    assert any("Assigned" in s.value for s in app.success)
    assert demo_store.count_items(status="labeled", unsplit=True) == 0
    # the page was redrawn after the split: its numbers are fresh
    assert any("**0** labeled items have no split yet" in m.value for m in app.markdown)


def test_demo_labels_from_the_ground_truth_and_nothing_to_split_disables_split(app,
                                                                               demo_store):
    split = next(b for b in app.button if b.label == "Split labeled items")
    assert split.disabled  # every labeled item (the test split) already has a split
    app.number_input(key="oracle_n").set_value(10).run()
    app.button(key="oracle_label").click().run()
    assert any("Labeled 10 images from the ground truth" in s.value for s in app.success)
    assert demo_store.count_items(status="labeled") == 18  # 8 test + 10 new
    assert demo_store.count_items(status="labeled", unsplit=True) == 0
    assert demo_store.count_items(split="train") + demo_store.count_items(split="val") == 10
    assert _metrics(app)["Labeled"] == "18"  # the page was redrawn with fresh numbers


def test_an_empty_project_db_is_one_readable_message_in_the_app(tmp_path, monkeypatch):
    root = tmp_path / "p"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"x")
    (root / "project.db").write_bytes(b"")
    monkeypatch.setenv("ALS_PROJECT", str(root))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.error if "is empty (0 bytes)" in read(e.value) and "Restore" in
            e.value], [e.value for e in at.error]
    assert (root / "project.db").stat().st_size == 0


def test_images_page_lists_the_filtered_items(app):
    app.switch_page("pages/images.py").run()
    assert not app.exception
    assert any("40 images match" in c.value for c in app.caption)
    assert len(app.get("image")) == 24  # the first page is full


def test_missing_project_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(tmp_path / "nowhere"))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert any("No project at" in e.value for e in at.error)


def test_import_tab_reports_and_refreshes_the_counts(app, tmp_path, monkeypatch):
    from tests.datasets import write_dataset, write_json

    monkeypatch.setenv("ALS_DATA_ROOTS", str(tmp_path))  # a configured data folder

    app.button(key="FormSubmitter:import-Import").click().run()
    assert any("Enter the images folder" in w.value for w in app.warning)
    coco = write_dataset(tmp_path / "imgs", 3, nested=False)
    coco["annotations"].append({"id": 999, "image_id": 100, "category_id": 7,
                                "bbox": [0, 0, 0, 5]})
    app.text_input[1].input(str(tmp_path / "imgs"))
    app.text_input[2].input(str(write_json(tmp_path / "c.json", coco)))
    app.button(key="FormSubmitter:import-Import").click().run()
    assert not app.exception
    assert any("3 of 3 images imported" in w.value for w in app.warning)
    assert any("zero or negative" in c.value for c in app.code)
    assert _metrics(app)["Images"] == "43"


def test_the_import_tab_reads_only_inside_the_allowed_folders(app, tmp_path, demo_store):
    """A browser user could make the server read any path (and see what it held)."""
    from tests.datasets import write_dataset

    write_dataset(tmp_path / "elsewhere", 2, nested=False)
    for folder, coco in ((str(tmp_path / "elsewhere"), ""), (str(demo_store.root), "/etc/passwd"),
                         (str(demo_store.root / ".." / ".." ), "")):
        app.text_input[1].input(folder)
        app.text_input[2].input(coco)
        app.button(key="FormSubmitter:import-Import").click().run()
        assert any("outside the folders this app may use" in e.value for e in app.error), folder
        assert not any("root:" in e.value for e in app.error)  # nothing of a file is shown
    assert _metrics(app)["Images"] == "40"
