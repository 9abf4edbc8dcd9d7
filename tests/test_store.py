import math
import multiprocessing
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from al_core.store import ProjectError, Store
from al_core.types import Box, LabeledBox

W, H = 640, 480


@st.composite
def boxes(draw):
    x1 = draw(st.floats(0, W - 1, allow_nan=False))
    y1 = draw(st.floats(0, H - 1, allow_nan=False))
    x2 = draw(st.floats(x1, W, allow_nan=False).filter(lambda v: v > x1))
    y2 = draw(st.floats(y1, H, allow_nan=False).filter(lambda v: v > y1))
    return Box(x1, y1, x2, y2)


labeled_boxes = st.lists(st.tuples(st.integers(0, 2), boxes()), max_size=12)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(first=labeled_boxes, second=labeled_boxes)
def test_labels_round_trip_exactly_and_history_records_each_change(store, first, second):
    ids = list(store.ensure_classes(["a", "b", "c"]).values())
    item = store.add_item(file=f"img{store.count_items()}.png", width=W, height=H,
                          sha256=str(store.count_items()), source="import")
    for version, labels in enumerate((first, second), start=1):
        written = [LabeledBox(ids[k], b) for k, b in labels]
        assert store.set_labels(item, written, source="human", author="ann", round=version) \
            == version
        read = store.annotations([item])[item]
        assert [(a.class_id, a.box) for a in read] == [(b.class_id, b.box) for b in written]
        assert all(a.source == "human" and a.author == "ann" for a in read)
    history = store.label_history(item)
    assert [h["label_version"] for h in history] == [1, 2]
    assert history[1]["before"] == history[0]["after"]
    got = store.item(item)
    assert got.status == "labeled" and got.labeled_round == 1 and got.label_version == 2


def test_set_labels_is_all_or_nothing(store):
    a = store.ensure_classes(["a"])["a"]
    item = store.add_item(file="x.png", width=W, height=H, sha256="s", source="import")
    store.set_labels(item, [LabeledBox(a, Box(1, 1, 5, 5))], source="human")
    with pytest.raises(Exception):
        store.set_labels(item, [LabeledBox(a, Box(1, 1, 9, 9)), LabeledBox(999, Box(2, 2, 3, 3))],
                         source="human")
    assert [x.box for x in store.annotations([item])[item]] == [Box(1, 1, 5, 5)]
    assert store.item(item).label_version == 1
    assert len(store.label_history(item)) == 1


@pytest.mark.parametrize("coords", [(5, 5, 5, 9), (5, 5, 4, 9), (0, 0, math.nan, 3),
                                    (0, 0, math.inf, 3)])
def test_box_rejects_degenerate_coordinates(coords):
    with pytest.raises(ValueError, match="box"):
        Box(*coords)


def test_item_filters_and_tags(store):
    ids = [store.add_item(file=f"{i}.png", width=4, height=4, sha256=str(i), source="import")
           for i in range(6)]
    store.set_splits({ids[0]: "train", ids[1]: "test"})
    store.add_tag("al-iteration-1", ids[2:4])
    assert [i.id for i in store.items(split="train")] == [ids[0]]
    assert [i.id for i in store.items(tag="test")] == [ids[1]]
    assert [i.id for i in store.items(tag="al-iteration-1")] == ids[2:4]
    assert store.count_items(unsplit=True) == 4
    assert [i.id for i in store.items(limit=2, offset=1)] == ids[1:3]
    assert store.tags() == {"al-iteration-1": 2}
    with pytest.raises(ValueError, match="reserved"):
        store.add_tag("train", ids[:1])
    with pytest.raises(ValueError, match="split"):
        store.set_splits({ids[0]: "holdout"})


def test_opening_a_missing_project_names_the_folder(tmp_path):
    with pytest.raises(ProjectError, match="no project at .*nowhere"):
        Store(tmp_path / "nowhere")


def test_status_counts(demo_store):
    status = demo_store.status()
    assert status.items == 40 and status.labeled == 8
    assert status.by_split_status == {"pool": {"unlabeled": 32}, "test": {"labeled": 8}}
    assert status.test_frozen and status.active_model is None
    assert sum(status.boxes_by_class.values()) == sum(
        len(v) for v in demo_store.annotations().values())


def test_write_rolls_back_everything_on_an_exception(store, tmp_path):
    a = store.ensure_classes(["a"])["a"]
    item = store.add_item(file="x.png", width=W, height=H, sha256="s", source="import")
    with pytest.raises(RuntimeError, match="boom"), store.write():
        store.db["annotations"].insert_all(  # sqlite-utils nests its atomic() as a savepoint
            [{"item_id": item, "class_id": a, "x1": 1, "y1": 1, "x2": 5, "y2": 5,
              "source": "human", "created": "t"}] * 3)
        store.set_labels(item, [LabeledBox(a, Box(2, 2, 6, 6))], source="human")  # nested
        store.set_meta("marker", "1")
        with Store(store.root) as other:  # nothing was committed early
            assert other.db["annotations"].count == 0 and other.get_meta("marker") is None
        raise RuntimeError("boom")
    assert not store.db.conn.in_transaction
    assert store.db["annotations"].count == 0 and store.get_meta("marker") is None
    assert store.item(item).label_version == 0 and store.label_history(item) == []


def test_a_nested_write_that_fails_undoes_only_itself(store):
    with store.write():
        store.set_meta("outer", "1")
        with pytest.raises(RuntimeError), store.write():
            store.set_meta("inner", "1")
            raise RuntimeError
    assert store.get_meta("outer") == "1" and store.get_meta("inner") is None


def test_a_write_whose_commit_fails_is_rolled_back(store):
    """A deferred constraint fails at COMMIT; the transaction must not stay open (it
    would swallow every later write)."""
    with pytest.raises(sqlite3.IntegrityError), store.write():
        store.db.execute("PRAGMA defer_foreign_keys = ON")
        store.db["annotations"].insert({"item_id": 999, "class_id": 999, "x1": 1, "y1": 1,
                                        "x2": 5, "y2": 5, "source": "human", "created": "t"})
    assert not store.db.conn.in_transaction and store.db["annotations"].count == 0


def _label_many(root, item_id, class_id, n, barrier):
    barrier.wait()
    with Store(root) as store:
        for k in range(n):
            store.set_labels(item_id, [LabeledBox(class_id, Box(1, 1, 10 + k % 5, 10))],
                             source="human")
    return n


def test_concurrent_writers_queue_instead_of_failing(store):
    """Two processes relabel one item at once: every save lands. set_labels reads before
    it writes; in a deferred transaction the write would fail at once with "database is
    locked" whenever the other process wrote after that read (write() begins IMMEDIATE,
    so it waits for the lock before reading)."""
    a = store.ensure_classes(["a"])["a"]
    item = store.add_item(file="x.png", width=W, height=H, sha256="s", source="import")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        barrier = manager.Barrier(2)
        results = [pool.apply_async(_label_many, (store.root, item, a, 40, barrier))
                   for _ in range(2)]
        assert [r.get(timeout=60) for r in results] == [40, 40]
    assert store.item(item).label_version == 80
    assert [h["label_version"] for h in store.label_history(item)] == list(range(1, 81))
