"""Names are data, normalised where they come in (issue 24, kind 3): class names from a
COCO file or any caller of Store.ensure_classes, selection tags, model names and the
names of who decided, each under al_core.names.normalize_name. ``traffic  light`` is
stored as ``traffic light``, `` ana `` as ``ana``; a name with a line break or longer than
its kind allows is refused naming it. Names stored before the rule still load."""
from __future__ import annotations

import json

import pytest

from al_core.formats.coco_import import import_folder, prelabel_model_name
from al_core.store import Store
from al_core.types import SelectionItem
from tests.datasets import write_dataset

LONG = "x" * 101


def _coco_with_categories(tmp_path, names: list[str]) -> dict:
    """Four images, image k with one box of category k (ids 1..4 named ``names``)."""
    coco = write_dataset(tmp_path / "imgs", 4, nested=False)
    coco["categories"] = [{"id": k, "name": n} for k, n in enumerate(names, 1)]
    coco["annotations"] = [{"id": k, "image_id": img["id"], "category_id": k,
                            "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0}
                           for k, img in enumerate(coco["images"], 1)]
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    return coco


def test_coco_categories_are_normalised_or_refused_by_name(tmp_path, store):
    coco = _coco_with_categories(tmp_path, ["traffic  light", "two\nlines", " ana ", LONG])
    report = import_folder(store, tmp_path / "imgs", coco=tmp_path / "ann.json")
    assert [c.name for c in store.classes()] == ["traffic light", "ana"]
    assert [p for p in report.problems if p.startswith("COCO category")] == [
        "COCO category 2: class name 'two\\nlines' holds a control character (\\n); names "
        "are one line of visible text; its annotations are not imported",
        f"COCO category 4: class name '{'x' * 57}...' is 101 characters long; at most 100 "
        "are allowed; its annotations are not imported"]
    labeled = {i.file: i.status for i in store.items()}
    assert [labeled[img["file_name"]] for img in coco["images"]] == [
        "labeled", "unlabeled", "labeled", "unlabeled"]  # all its boxes, or none


def test_two_categories_one_name_once_normalised_are_merged_and_named(tmp_path, store):
    _coco_with_categories(tmp_path, ["traffic light", "traffic  light", "cat", "cat"])
    report = import_folder(store, tmp_path / "imgs", coco=tmp_path / "ann.json")
    assert [c.name for c in store.classes()] == ["traffic light", "cat"]
    assert [p for p in report.problems if p.startswith("COCO categories")] == [
        "COCO categories 1 and 2 ('traffic light', 'traffic  light') are one name by the "
        "naming rule (spaces trimmed and made one, Unicode NFC): 'traffic light'; their "
        "boxes are merged into one class",
        "COCO categories 3 and 4 are both named 'cat'; their boxes are merged into one "
        "class"]
    assert sum(len(a) for a in store.annotations().values()) == 4


def test_ensure_classes_normalises_and_finds_names_stored_before_the_rule(store):
    old = store.db["classes"].insert({"name": "cat ", "color": "#000000",
                                      "created": "2024-01-01"}).last_pk
    ids = store.ensure_classes(["cat", "cat ", "traffic  light", " ana "])
    assert ids["cat"] == ids["cat "] == old  # the old class, not a second one
    assert [c.name for c in store.classes()] == ["cat ", "traffic light", "ana"]
    assert ids["traffic  light"] == ids["traffic light"]
    for bad, message in [("two\nlines", "holds a control character"),
                         (LONG, "101 characters long; at most 100")]:
        with pytest.raises(ValueError, match=message):
            store.ensure_classes(["dog", bad])
    assert len(store.classes()) == 3  # a refused batch creates none


@pytest.mark.parametrize("tag, stored", [("traffic  light", "traffic light"),
                                         (" ana ", "ana")])
def test_a_selection_tag_is_stored_normalised(store, tag, stored):
    assert store.check_new_tag(tag) == stored
    store.add_selection(tag=tag, round=1, strategy="random", config={}, seed=0,
                        model_id=None, items=[])
    assert [s.tag for s in store.selections()] == [stored]
    assert store.selection(stored).tag == stored
    with pytest.raises(ValueError, match=f"a selection named '{stored}' already exists"):
        store.check_new_tag(tag)


@pytest.mark.parametrize("tag, message", [
    ("two\nlines", r"tag 'two\\nlines' holds a control character"),
    ("x" * 101, "101 characters long; at most 100"),
    ("   ", "tag is only whitespace|is empty"),
    (" test ", "reserved for the split")])
def test_a_selection_tag_that_breaks_the_rule_is_refused(store, tag, message):
    with pytest.raises(ValueError, match=message):
        store.add_selection(tag=tag, round=1, strategy="random", config={}, seed=0,
                            model_id=None, items=[])
    assert store.selections() == []


def test_a_query_plan_carries_the_tag_as_stored(demo_store):
    from al_core.query.round import QuerySpec, plan_query

    plan = plan_query(demo_store, QuerySpec(strategy="random", add=3, tag=" round  one "))
    assert plan.tag == "round one"


def test_model_names_are_normalised_or_refused(store):
    model = store.add_model(name="traffic  light", arch="external", status="external")
    assert store.model(model)["name"] == "traffic light"
    assert prelabel_model_name(" ana ", None) == "ana"
    assert prelabel_model_name(None, "yolo  v8") == "yolo v8"
    assert prelabel_model_name(None, "two\nlines") == "external"  # a file's name: not refused
    for bad, message in [("two\nlines", r"model name 'two\\nlines' holds a control"),
                         (LONG, "101 characters long; at most 100")]:
        with pytest.raises(ValueError, match=message):
            store.add_model(name=bad, arch="external", status="external")
        with pytest.raises(ValueError, match=message):
            prelabel_model_name(bad, None)
    assert len(store.models()) == 1


def test_an_import_with_a_bad_model_name_writes_nothing(tmp_path, store):
    from al_core.formats.coco_import import import_source, read_import_source

    write_dataset(tmp_path / "imgs", 2, nested=False)
    source = read_import_source(tmp_path / "imgs")
    with pytest.raises(ValueError, match="model name 'two\\\\nlines'"):
        import_source(store, source, model_name="two\nlines")
    assert store.items() == [] and not any(store.images_dir.glob("*"))


def test_who_decided_is_normalised_or_refused(store):
    model = store.add_model(name="m", arch="external", status="trained")
    store.apply_decision(model, "update_model", decided_by=" ana ")
    assert store.model_decisions(model)[0]["decided_by"] == "ana"
    for bad, message in [("two\nlines", r"name 'two\\nlines' holds a control"),
                         ("x" * 61, "61 characters long; at most 60")]:
        with pytest.raises(ValueError, match=message):
            store.apply_decision(model, "discard", decided_by=bad)
        with pytest.raises(ValueError, match=message):
            store.save_comparison(new_model_id=model, old_model_id=None, config={},
                                  test_set_hash="h", per_class=[], decision="discard",
                                  reason="r", decided_by=bad)
    assert len(store.model_decisions(model)) == 1 and store.comparisons() == []
    assert store.model(model)["status"] == "active"


def test_names_stored_before_the_rule_still_load(tmp_path):
    with Store(tmp_path / "p", create=True) as store:
        store.db["classes"].insert({"name": "two\nlines", "color": "#000000",
                                    "created": "2024-01-01"})
        store.add_selection(tag="s", round=1, strategy="random", config={}, seed=0,
                            model_id=None, items=[SelectionItem(
                                store.add_item(file="a.png", width=4, height=4,
                                               sha256="0" * 64, source="t"), 0, None, False)])
        with store.write():
            store.db.execute("UPDATE selections SET tag = ' old  tag '")
            store.db.execute("UPDATE tags SET tag = ' old  tag '")
    with Store(tmp_path / "p") as store:
        assert [c.name for c in store.classes()] == ["two\nlines"]
        assert store.ensure_classes(["two\nlines"])["two\nlines"] == 1  # found, not refused
        assert store.selection(" old  tag ").tag == " old  tag "
        assert [i.id for i in store.items(tag=" old  tag ")] == [1]


def test_the_cli_refuses_a_bad_model_name_before_making_a_project(tmp_path, capsys):
    from al_core.cli import main

    write_dataset(tmp_path / "imgs", 2, nested=False)
    code = main(["import", "--project", str(tmp_path / "p"), "--images",
                 str(tmp_path / "imgs"), "--model-name", "two\nlines"])
    assert code == 2 and not (tmp_path / "p").exists()
    assert capsys.readouterr().err == (
        "error: model name 'two\\nlines' holds a control character (\\n); names are one "
        "line of visible text\n")


@pytest.mark.parametrize("value,message", [
    ("\u200b", r"holds an invisible character \(\\u200b\)"),
    ("car\u200b", r"holds an invisible character \(\\u200b\)"),
    ("\ufeffcar", r"holds an invisible character \(\\ufeff\)"),
    ("ca\u00adr", r"holds an invisible character \(\\xad\)"),
    ("\u0301", "has no visible character"),
])
def test_a_name_that_would_look_like_another_or_like_nothing_is_refused(value, message):
    """``car`` + U+200B was stored as a second class that reads exactly as ``car``."""
    from al_core.names import normalize_name
    with pytest.raises(ValueError, match=message):
        normalize_name(value, kind="class")


def test_emoji_joined_with_zwj_stay_one_name():
    from al_core.names import normalize_name, printable
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"
    assert normalize_name(family, kind="class") == family
    assert printable("car\u200b") == "car\\u200b"
