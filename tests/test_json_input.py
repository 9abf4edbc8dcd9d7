"""Every JSON the product takes goes through one bounded reader (issue 24, kind 6): a
100,000-deep file or config gave a RecursionError traceback from compare --config,
import --coco, import --selection, eval-coco --gt and the Review page's upload, and a
simulation's settings.json holding a list an AttributeError."""
import json
import random

import pytest

from al_core.cli import main
from al_core.formats.json_input import (MAX_DEPTH, JsonInputError, nesting_depth, parse_json,
                                        read_json_file)
from tests.datasets import write_dataset, write_json

DEEP = "[" * 100_000 + "]" * 100_000
TOO_DEEP = "arrays and objects nested 100,000 deep, over the limit of 64"


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@pytest.mark.parametrize("text, depth", [
    ("1", 0), ("[]", 1), ('{"a": [[1]]}', 3), ('"[[[{"', 0), ('["\\"[["]', 1),
    ('["\\\\", [[]]]', 3), ('{"k\\\\\\"[": {}}', 2), ("[[[", 3), ('"\\u005b"', 0)])
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    assert nesting_depth(text.encode()) == depth


def test_nesting_depth_is_the_parsed_values_depth():
    """Property: on random JSON with brackets, quotes and backslashes inside strings and
    keys, the depth measured on the text is the parsed value's."""
    rng = random.Random(0)
    leaves = [1, None, 'a"[\\', "\\\\", "]]", '{\\"}', "é[ü"]

    def value(room):
        if room == 0 or rng.random() < 0.3:
            return rng.choice(leaves)
        if rng.random() < 0.5:
            return [value(room - 1) for _ in range(rng.randint(0, 3))]
        return {f'k{i}\\["': value(room - 1) for i in range(rng.randint(0, 3))}

    for _ in range(500):
        v = value(8)
        text = json.dumps(v, ensure_ascii=rng.random() < 0.5)
        assert nesting_depth(text.encode()) == _depth(v), text


def test_the_reader_refuses_by_name_deep_large_invalid_and_the_wrong_kind(tmp_path):
    limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert _depth(parse_json(limit, "x")) == MAX_DEPTH  # 64 deep is read
    cases = [(DEEP, TOO_DEEP), ("[" * 65 + "]" * 65, "nested 65 deep"),
             ("[1, 2]", "expected a JSON object, got a JSON array"),
             ('{"a": ', "not valid JSON at line 1 column 7"),
             ("1" * 5000, "cannot be read (Exceeds the limit")]
    for text, message in cases:
        with pytest.raises(JsonInputError, match=r"^the thing: ") as info:
            parse_json(text, "the thing", expect=dict)
        assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(JsonInputError, match="the thing: 11 characters is over the limit of 10"):
        parse_json('{"a": "bc"}', "the thing", max_size=10)
    path = tmp_path / "f.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}')  # a byte-order mark is allowed
    assert read_json_file(path, "file", expect=dict) == {"a": 1}
    with pytest.raises(JsonInputError, match=r"file .*f.json: 11 bytes is over the limit of 8"):
        read_json_file(path, "file", max_bytes=8)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(JsonInputError, match=r"file .*f.json: not UTF-8 text"):
        read_json_file(path, "file")
    with pytest.raises(JsonInputError, match=r"file .*nope.json: cannot be read \(No such"):
        read_json_file(tmp_path / "nope.json", "file")


def _refused(capsys, argv: list, *messages: str) -> None:
    """The command exits 2 with one line on stderr that says each of ``messages``."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and all(m in err for m in messages), err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture
def deep(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    return path


def test_every_cli_entry_point_refuses_a_deep_json_in_one_line(tmp_path, store, deep, capsys):
    project = ["--project", store.root]
    write_dataset(tmp_path / "imgs", 3)
    good = write_json(tmp_path / "coco.json", {"images": [], "annotations": [],
                                               "categories": []})
    for argv, what in [
        (["import", *project, "--images", tmp_path / "imgs", "--coco", deep], "COCO file"),
        (["import", *project, "--images", tmp_path / "imgs", "--coco", good,
          "--predictions", deep], "predictions file"),
        (["import", *project, "--selection", "b", "--coco", deep], "COCO file"),
        (["eval-coco", "--gt", deep, "--dt", deep], "ground-truth file"),
        (["eval-coco", "--gt", good, "--dt", deep], "detections file"),
        (["compare", *project, "--new", 1, "--config", deep], "compare config"),
        (["compare", *project, "--new", 1, "--config", DEEP[:150_000]], "compare config"),
        (["train", *project, "--config", "[" * 500 + "]" * 500], "--config"),
        (["query", *project, "--add", 1, "--config", deep], "--config"),
        (["simulate", "--demo", "--quick", "--out", tmp_path / "s", "--config", deep],
         "--config"),
        (["simulate", "--demo", "--quick", "--out", tmp_path / "s", "--train-config",
          "[" * 100 + "]" * 100], "--train-config"),
    ]:
        _refused(capsys, argv, f"{what}", " deep, over the limit of 64")
    assert store.count_items() == 0 and store.models() == [] and store.jobs() == []
    assert not (tmp_path / "s").exists()


def test_cli_messages_name_the_input_and_the_depth(tmp_path, store, deep, capsys):
    _refused(capsys, ["eval-coco", "--gt", deep, "--dt", deep],
             f"ground-truth file {deep}: {TOO_DEEP}")
    _refused(capsys, ["compare", "--project", store.root, "--new", 1, "--config",
                      "[" * 100 + "]" * 100],
             "compare config: arrays and objects nested 100 deep, over the limit of 64")
    _refused(capsys, ["query", "--project", store.root, "--add", 1, "--config", "epochs=3"],
             "--config (not a file): not valid JSON at line 1 column 1")


def test_a_simulation_settings_file_holding_a_list_is_refused_by_name(tmp_path, capsys):
    """settings.json holding a list gave AttributeError: 'list' object has no attribute
    'get' (from the demo's resume check and from --images' test-size check)."""
    out = tmp_path / "sim"
    out.mkdir()
    write_json(out / "settings.json", [1, 2])
    _refused(capsys, ["simulate", "--demo", "--quick", "--out", out],
             f"simulation settings {out / 'settings.json'}: expected a JSON object, got a "
             "JSON array")
    coco = write_json(tmp_path / "c.json", write_dataset(tmp_path / "imgs", 12))
    _refused(capsys, ["simulate", "--images", tmp_path / "imgs", "--coco", coco, "--initial",
                      2, "--add", 1, "--rounds", 1, "--quick", "--out", out],
             "expected a JSON object, got a JSON array")
    (out / "settings.json").write_text(DEEP)
    _refused(capsys, ["simulate", "--demo", "--quick", "--out", out], TOO_DEEP)
    assert sorted(p.name for p in out.iterdir()) == ["settings.json"]


def test_a_yolo_manifest_too_deep_is_damaged_not_a_traceback(tmp_path, store):
    from al_core.formats.export import MANIFEST, export_yolo

    (tmp_path / "y").mkdir()
    (tmp_path / "y" / MANIFEST).write_text('{"files": ' + DEEP + "}")
    with pytest.raises(ValueError, match=r"is damaged \(export manifest .*nested 100,001 "
                                         r"deep.*nothing in .* is replaced"):
        export_yolo(store, tmp_path / "y")


def test_a_deep_corrected_batch_is_refused_at_the_library_and_on_the_review_page(
        tmp_path, demo_store, monkeypatch, deep):
    from al_core.formats.coco_import import ImportFailed
    from al_core.review.external import import_selection
    from tests.apptest import read
    from tests.test_review_page import TAG, make_selection, open_review

    pool = make_selection(demo_store)
    with pytest.raises(ImportFailed, match=f"COCO file {deep}: {TOO_DEEP}"):
        import_selection(demo_store, TAG, deep)
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    at = open_review(demo_store)
    at.file_uploader(key="rv-upload").set_value(("fixed.json", DEEP.encode(),
                                                 "application/json")).run()
    next(b for b in at.button if b.key == "rv-upload-go").click().run()
    assert not at.exception, at.exception
    errors = [read(e.value) for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Not imported: COCO file ") \
        and "fixed.json: " + TOO_DEEP in errors[0], errors
    assert all(i.status == "unlabeled" for i in demo_store.items(ids=pool))


@pytest.mark.parametrize("page, label, button", [
    ("pages/models.py", "Override (JSON)", "Retrain"),
    ("pages/compare.py", "Compare config (JSON)", "Compare")])
def test_the_pages_refuse_a_deep_config_inline(demo_store, monkeypatch, page, label, button):
    from tests.apptest import open_page, read
    from tests.datasets import add_model_from_labels

    add_model_from_labels(demo_store, "m")
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    at = open_page(page)
    next(t for t in at.text_area if t.label == label).input("[" * 5000 + "]" * 5000).run()
    assert not at.exception, at.exception
    assert any("nested 5,000 deep, over the limit of 64" in read(e.value) for e in at.error), \
        [e.value for e in at.error]
    assert next(b for b in at.button if b.label == button).disabled
    assert demo_store.jobs() == []
