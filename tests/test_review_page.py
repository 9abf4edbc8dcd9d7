"""The Review page and the grid, headless with AppTest. The canvas is a Components v2
element that AppTest does not draw: a user's drawing is simulated by writing the
component's state value under its key, as the browser would send it."""
from pathlib import Path

import pytest

from ui.review_editor import HEADER_PX  # the canvas height the editor leaves
from streamlit.testing.v1 import AppTest

from al_core.types import Box, LabeledBox, SelectionItem
from tests.apptest import read

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TAG = "al-iteration-1"


def make_selection(store, n=4, *, tag=TAG, model=True):
    """A selection over the first ``n`` pool items; each has a 0.9 pre-label of the first
    class at (10, 10, 40, 40) and a 0.1 one of the second class at (50, 50, 80, 90)."""
    classes = store.classes()
    pool = store.query_pool()[:n]
    model_id = None
    if model:
        model_id = store.add_model(name="m", arch="external", status="external")
        store.add_predictions(model_id, [row for i in pool for row in (
            (i, classes[0].id, Box(10, 10, 40, 40), 0.9),
            (i, classes[1].id, Box(50, 50, 80, 90), 0.1))])
    store.add_selection(tag=tag, round=1, strategy="uncertainty", config={}, seed=0,
                        model_id=model_id,
                        items=[SelectionItem(i, r, 1 - r / 10, r == n - 1)
                               for r, i in enumerate(pool)])
    return pool


def open_review(store, user="ana", query=None):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["annotator"] = user
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def project(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    return demo_store


def canvas_key(at):
    item = at.session_state["rv_item"]
    w = at.session_state["rv_work"][item]
    scale = min(960 / w.width, (800 - HEADER_PX) / w.height)
    size = f"{round(w.width * scale)}x{round(w.height * scale)}"
    return f"canvas-{w.tag}-{size}"


def draw(at, boxes, *, run=True):
    """Simulate the canvas sending ``boxes`` (label, image x1, y1, x2, y2): the demo's
    160 px images are shown at ``scale`` canvas pixels per image pixel."""
    item = at.session_state["rv_item"]
    w = at.session_state["rv_work"][item]
    scale = min(960 / w.width, (800 - HEADER_PX) / w.height)
    objects = [{"type": "LabeledRect", "label": label, "left": x1 * scale, "top": y1 * scale,
                "width": (x2 - x1) * scale, "height": (y2 - y1) * scale, "originX": "left",
                "originY": "top", "scaleX": 1, "scaleY": 1}
               for label, x1, y1, x2, y2 in boxes]
    at.session_state[canvas_key(at)] = {"drawing": {"raw": {"objects": objects}, "data": None},
                                        "backgroundFit": None}
    if run:
        at.run()
        assert not at.exception, at.exception


def test_accept_as_shown_saves_the_shown_prelabels_and_moves_on(project):
    pool = make_selection(project)
    at = open_review(project)
    first = at.session_state["rv_item"]
    assert first == pool[0]  # rank order
    assert any(f"1 / 4** in {TAG}" in read(p.proto.text) for p in at.get("progress"))
    at.button(key="rv-accept").click().run()
    assert not at.exception
    labels = project.annotations([first])[first]
    c0 = project.classes()[0].id
    assert [(a.class_id, a.box.as_list(), a.author, a.round) for a in labels] == \
        [(c0, [10, 10, 40, 40], "ana", 1)]  # the 0.1 pre-label was hidden: not saved
    review = project.reviews(item_id=first)[0]
    assert (review["action"], review["kept"], review["prelabels"], review["boxes"]) == \
        ("accept", 1, 1, 1)
    assert review["seconds"] is not None and review["seconds"] >= 0
    assert project.item(first).split in ("train", "val")  # joined at once
    assert at.session_state["rv_item"] == pool[1]


def test_a_drawing_is_saved_with_its_change_counts(project):
    make_selection(project)
    at = open_review(project)
    item = at.session_state["rv_item"]
    names = [c.name for c in project.classes()]
    draw(at, [(f"{names[0]} 0.90", 20, 10, 50, 40),  # the pre-label moved by 10 px
              (names[2], 60, 60, 100, 100)])  # a new box of the third class
    assert len(at.session_state["rv_work"][item].boxes) == 2
    at.button(key="rv-save").click().run()
    assert not at.exception
    r = project.reviews(item_id=item)[0]
    assert (r["action"], r["kept"], r["moved"], r["added"], r["deleted"]) == \
        ("save", 0, 1, 1, 0)
    assert sorted(a.box.as_list() for a in project.annotations([item])[item]) == \
        [[20, 10, 50, 40], [60, 60, 100, 100]]


def test_relabel_from_the_box_list_and_undo(project):
    make_selection(project)
    at = open_review(project)
    item = at.session_state["rv_item"]
    classes = project.classes()
    work = lambda: at.session_state["rv_work"][item]  # noqa: E731
    at.button(key=f"rv-focus-{work().tag}-0").click().run()  # highlight: its row gets a picker
    assert at.session_state["rv_focus"] == 0 and work().rev == 1
    at.selectbox(key=f"rv-cls-{work().tag}-0").set_value(classes[3].name).run()
    assert work().boxes[0]["class_id"] == classes[3].id and at.session_state["rv_focus"] is None
    at.button(key="rv-undo").click().run()
    assert work().boxes[0]["class_id"] == classes[0].id
    # the keyboard way: highlight, then the class's number key (the palette button)
    at.button(key=f"rv-focus-{work().tag}-0").click().run()
    at.button(key=f"rv-pal-{classes[3].id}").click().run()
    assert work().boxes[0]["class_id"] == classes[3].id
    at.button(key="rv-save").click().run()
    r = project.reviews(item_id=item)[0]
    assert (r["relabeled"], r["kept"]) == (1, 0)
    assert project.annotations([item])[item][0].class_id == classes[3].id


def test_the_threshold_decides_which_prelabels_are_saved(project):
    make_selection(project)
    at = open_review(project)
    first = at.session_state["rv_item"]
    at.sidebar.slider[0].set_value(0.05).run()
    assert len(at.session_state["rv_work"][first].boxes) == 2
    at.button(key="rv-accept").click().run()
    assert len(project.annotations([first])[first]) == 2
    at.sidebar.slider[0].set_value(0.95).run()  # remembered for this annotator
    assert project.user_setting("ana", "min_score") == "0.95"
    second = at.session_state["rv_item"]
    assert at.session_state["rv_work"][second].boxes == []
    at.button(key="rv-accept").click().run()
    assert project.annotations([second])[second] == []
    assert project.reviews(item_id=second)[0]["prelabels"] == 0


def test_two_annotators_never_hold_the_same_image(project):
    pool = make_selection(project, n=3)
    ana = open_review(project, "ana")
    bob = open_review(project, "bob")
    assert (ana.session_state["rv_item"], bob.session_state["rv_item"]) == (pool[0], pool[1])
    assert project.holder(pool[0]) == "ana" and project.holder(pool[1]) == "bob"
    ana.button(key="rv-accept").click().run()
    assert ana.session_state["rv_item"] == pool[2]  # not bob's
    bob.button(key="rv-accept").click().run()
    assert bob.session_state["rv_item"] is None  # the last one is ana's
    assert any("open for someone else" in s.value for s in bob.success)
    assert {r["item_id"]: r["author"] for r in project.reviews()} == \
        {pool[0]: "ana", pool[1]: "bob"}


def test_the_threshold_can_become_the_projects_default(project):
    make_selection(project)
    at = open_review(project)
    at.sidebar.slider[0].set_value(0.5).run()
    at.sidebar.button(key="rv-default-score").click().run()
    assert project.get_meta("review_min_score") == "0.5"
    bob = open_review(project, "bob")  # has never moved the slider
    assert bob.sidebar.slider[0].value == 0.5


def test_the_grid_never_overwrites_a_save_made_after_the_page_was_shown(project):
    make_selection(project, n=4)
    at = open_review(project)
    at.segmented_control(key="rv-mode").set_value("Grid").run()
    page = at.session_state["rv_grid_page"]
    victim = page[1]
    project.release(victim, "ana")  # her lease ran out while she looked away
    c = project.classes()[2].id
    from al_core.review.save import submit_review
    submit_review(project, victim, [LabeledBox(c, Box(1, 1, 30, 30))], author="bob",
                  action="save", expected_version=0)
    at.button(key="rv-grid-accept").click().run()
    assert [a.class_id for a in project.annotations([victim])[victim]] == [c]  # bob's stay
    assert {r["author"] for r in project.reviews(item_id=victim)} == {"bob"}
    assert any("changed by bob" in w.value for w in at.warning)
    assert sum(r["author"] == "ana" for r in project.reviews()) == len(page) - 1


def test_images_the_model_never_predicted_are_not_accepted_unseen(project):
    pool = make_selection(project, n=3)
    sel = project.selection(TAG)
    # the model predicted (has an embedding for) every image but the second
    project.replace_predictions(sel.model_id, [pool[0], pool[2]], [],
                                [(pool[0], b"\0" * 8), (pool[2], b"\0" * 8)])
    at = open_review(project)
    at.segmented_control(key="rv-mode").set_value("Grid").run()
    assert pool[1] in at.session_state["rv_marked"]
    at.button(key="rv-grid-accept").click().run()
    assert pool[1] not in {r["item_id"] for r in project.reviews()}
    at.run()
    assert at.session_state["rv_item"] == pool[1]
    assert any("predictions are missing" in i.value for i in at.info)


def test_skip_and_previous(project):
    pool = make_selection(project, n=3)
    at = open_review(project)
    at.button(key="rv-skip").click().run()
    assert at.session_state["rv_item"] == pool[1]
    assert project.review_progress(project.selection(TAG).id, "ana")["skipped"] == 1
    at.button(key="rv-prev").click().run()
    assert at.session_state["rv_item"] == pool[0]


def test_grid_accepts_the_unmarked_and_opens_the_marked_in_the_editor(project):
    pool = make_selection(project, n=4)
    at = open_review(project)
    at.segmented_control(key="rv-mode").set_value("Grid").run()
    assert not at.exception
    at.button(key=f"rv-wrong-{pool[2]}").click().run()
    at.button(key="rv-grid-accept").click().run()
    assert not at.exception
    reviewed = {r["item_id"]: r for r in project.reviews()}
    # the editor had claimed the first image; the grid page holds the others it got
    assert pool[2] not in reviewed and len(reviewed) >= 2
    assert all(r["action"] == "accept" and r["kept"] == 1 for r in reviewed.values())
    at.run()
    assert at.session_state["rv_item"] == pool[2]


def test_no_selection_says_how_to_make_one(project):
    at = open_review(project)
    assert any("No selection yet" in i.value for i in at.info)


def test_a_test_image_opens_with_a_warning(project):
    test_item = project.items(split="test")[0].id
    model = project.add_model(name="m", arch="external", status="external")
    _, digest = project.test_set_identity()
    project.save_evaluation(model_id=model, test_set_hash=digest, iou_threshold=0.5, map=0.5,
                            per_class={}, pr_curves={})
    at = open_review(project, query={"item": str(test_item)})
    assert at.session_state["rv_item"] == test_item
    assert any("frozen **test** set" in w.value and f"model #{model}" in w.value
               for w in at.warning)


def test_a_missing_image_file_is_explained_and_nothing_is_saved(project):
    pool = make_selection(project, n=2)
    project.image_path(project.item(pool[0])).unlink()
    at = open_review(project)
    assert any("cannot be shown" in e.value for e in at.error)
    assert at.button(key="rv-accept").disabled
    at.button(key="rv-skip").click().run()
    assert at.session_state["rv_item"] == pool[1] and project.reviews() == []


def test_a_cold_start_selection_has_no_prelabels_and_says_so(project):
    make_selection(project, model=False)
    at = open_review(project)
    assert any("cold start" in i.value for i in at.info)


def test_a_late_change_of_the_previous_images_picker_never_lands_on_this_one():
    """Streamlit can deliver a class picker's change after a navigation, with the keys of
    widgets no longer drawn (seen in Chromium: image A's pickers relabeled image B)."""
    import streamlit as st

    from ui import review_nav
    from ui.working import Working

    pre = [{"class_id": 1, "box": [1, 1, 20, 20], "score": 0.9}]
    b = Working.open(2, 50, 50, base_version=0, prelabels=pre, labels=None, min_score=0.3)
    a = Working.open(1, 50, 50, base_version=0, prelabels=pre, labels=None, min_score=0.3)
    st.session_state.update(rv_work={2: b}, rv_item=2, rv_focus=None)
    st.session_state[f"rv-cls-{a.tag}-0"] = "dog"
    review_nav.relabel_from_list(0, f"rv-cls-{a.tag}-0", {"dog": 7}, a.tag)  # image A's
    review_nav.delete(0, a.tag)
    assert b.boxes[0]["class_id"] == 1 and len(b.boxes) == 1 and b.rev == 0
    old_tag = b.tag
    st.session_state[f"rv-cls-{b.tag}-0"] = "dog"
    review_nav.relabel_from_list(0, f"rv-cls-{b.tag}-0", {"dog": 7}, b.tag)  # this image's
    assert b.boxes[0]["class_id"] == 7
    review_nav.relabel_from_list(0, f"rv-cls-{old_tag}-0", {"dog": 8}, old_tag)  # stale rev
    assert b.boxes[0]["class_id"] == 7


def test_the_demo_labels_a_batch_from_the_ground_truth(project):
    pool = make_selection(project, n=4)
    at = open_review(project)
    held = at.session_state["rv_item"]  # open for ana: the oracle leaves it alone
    at.button(key="rv-oracle").click().run()
    assert any("Labeled 3 images" in s.value for s in at.success)
    truth = project.oracle_boxes(pool)
    for i in pool:
        if i == held:
            assert project.item(i).status == "unlabeled"
            continue
        assert [(a.class_id, a.box) for a in project.annotations([i])[i]] == \
            [(b.class_id, b.box) for b in truth[i]]
        r = project.reviews(item_id=i)[0]
        assert (r["author"], r["action"], r["round"]) == ("oracle", "oracle", 1)
        assert r["boxes"] == len(truth[i]) and r["prelabels"] == 1  # the 0.9 one is shown
        assert r["kept"] + r["moved"] + r["relabeled"] + r["added"] == len(truth[i])
        assert project.item(i).split in ("train", "val")


def test_opening_another_image_by_link_in_the_same_session_shows_it(project):
    a, b = (i.id for i in project.items(split="test")[:2])
    at = open_review(project, query={"item": str(a)})
    assert at.session_state["rv_item"] == a
    at.query_params["item"] = str(b)  # the Images page's "Open in editor" on another image
    at.run()
    assert at.session_state["rv_item"] == b
    at.query_params["item"] = "nope"
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "The link's image is not valid: 'nope' is not an id (image ids are whole numbers "
        "from 1 to 9,223,372,036,854,775,807). No image is open: open one from the Images "
        "page, or review a selection."]


def test_a_drawing_sent_with_the_save_key_is_saved_not_dropped(project):
    """The browser sends a drag's result and a key pressed right after it in one rerun;
    the save callback runs before the page reads the canvas."""
    make_selection(project)
    at = open_review(project)
    item = at.session_state["rv_item"]
    name = project.classes()[0].name
    draw(at, [(f"{name} 0.90", 10, 10, 40, 40), (name, 60, 60, 100, 100)], run=False)
    at.button(key="rv-save").click().run()  # one run: the drawing and the key together
    r = project.reviews(item_id=item)[0]
    assert (r["kept"], r["added"], r["boxes"]) == (1, 1, 2)


def test_a_stale_save_reopens_the_image_with_the_other_annotators_labels(project):
    make_selection(project)
    at = open_review(project)
    item = at.session_state["rv_item"]
    c = project.classes()[1].id
    project.set_labels(item, [LabeledBox(c, Box(1, 1, 9, 9))], source="human", author="bob")
    at.button(key="rv-save").click().run()
    assert any("changed by bob" in e.value for e in at.error)
    assert [a.box.as_list() for a in project.annotations([item])[item]] == [[1, 1, 9, 9]]
    assert project.reviews(item_id=item) == [] and at.session_state["rv_item"] == item
    w = at.session_state["rv_work"][item]
    assert w.from_labels and [b["box"] for b in w.boxes] == [[1, 1, 9, 9]]
    at.button(key="rv-focus-" + w.tag + "-0").click().run()  # her fix, on their version
    at.button(key=f"rv-pal-{project.classes()[3].id}").click().run()
    at.button(key="rv-save").click().run()
    (r,) = project.reviews(item_id=item)
    assert (r["author"], r["relabeled"]) == ("ana", 1)


def test_accepting_a_labeled_image_unchanged_saves_nothing(project):
    test_item = project.items(split="test")[0]
    at = open_review(project, query={"item": str(test_item.id)})
    at.button(key="rv-accept").click().run()
    assert any("unchanged: nothing saved" in c.value for c in at.caption)
    assert project.item(test_item.id).label_version == test_item.label_version
    assert project.reviews() == [] and project.holder(test_item.id) is None


def test_the_end_of_a_batch_offers_to_retrain(project, monkeypatch):
    from al_core.decide import retrain

    started = []
    monkeypatch.setattr(retrain, "start_job", lambda store, kind, params: started.append(
        (kind, params)) or 77)
    make_selection(project, n=2)
    at = open_review(project)
    for _ in range(2):
        at.button(key="rv-accept").click().run()
    assert any("Nothing left for you" in s.value for s in at.success)
    at.button(key="rv-retrain").click().run()
    assert not at.exception, at.exception
    model = project.models()[-1]
    assert started == [("retrain", {"model_id": model["id"], "apply": False,
                                    "decided_by": "ana"})]
    assert model["status"] == "candidate"
    assert any(f"Retraining: model #{model['id']} (job 77)" in s.value for s in at.success)
