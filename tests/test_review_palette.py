"""The Review editor's number keys (ui.review_palette): the nine classes an annotator
used most in the project, digit-named classes on their own digit, ties and newcomers in
class order; the store's per-user box counts they follow; and the page's picker, chips
and key sentence, headless with AppTest."""
import pytest

from al_core.simulation.demo import DIGIT_NAMES
from al_core.types import Box, ClassInfo, LabeledBox
from tests.test_review_page import make_selection, open_review
from ui.review_palette import assign_keys, digit_of, key_note, zero_keyed

COLOR = "#e6194b"


def classes_named(*names, start=1):
    return [ClassInfo(k, n, COLOR) for k, n in enumerate(names, start=start)]


def test_the_most_used_classes_take_the_keys_ties_in_class_order():
    classes = classes_named(*[f"c{k}" for k in range(12)])  # ids 1..12
    counts = {12: 50, 11: 40, 3: 40, 5: 1}
    keys = assign_keys(classes, counts)
    # most boxes first; 3 and 11 tie at 40: class order (3 before 11); then 5; then the
    # never-used classes in class order
    assert keys == {1: 12, 2: 3, 3: 11, 4: 5, 5: 1, 6: 2, 7: 4, 8: 6, 9: 7}
    assert list(keys) == list(range(1, 10))


def test_a_first_time_user_gets_the_class_order_and_few_classes_few_keys():
    classes = classes_named("car", "bus", "bike")
    assert assign_keys(classes, {}) == {1: 1, 2: 2, 3: 3}
    assert assign_keys(classes, {3: 2}) == {1: 3, 2: 1, 3: 2}


def test_digit_named_classes_take_their_own_digit_zero_included():
    classes = classes_named(*DIGIT_NAMES)  # the digits demo: zero is class 1
    keys = assign_keys(classes, {1: 500, 2: 3})
    assert {k: classes[cid - 1].name for k, cid in keys.items()} == {
        k: DIGIT_NAMES[k] for k in range(10)}  # every digit is its own key, 0 is zero
    assert zero_keyed(classes) and not zero_keyed(classes_named("car", "one"))
    # mixed: digits keep their key whatever the counts; the others fill the free keys
    # 1-9 (never 0: it stays the zoom's key unless a class is named zero)
    mixed = classes_named("car", "7", "one", "bus", "Nine ", "0")
    keys = assign_keys(mixed, {4: 9, 1: 2})
    assert keys == {0: 6, 1: 3, 2: 4, 3: 1, 7: 2, 9: 5}
    assert 0 not in assign_keys(classes_named(*[f"c{k}" for k in range(12)]), {})
    # two classes naming one digit: the first in class order takes it, the other none
    assert assign_keys(classes_named("1", "one", "cat"), {2: 9}) == {1: 1, 2: 3}


def test_digit_of_reads_digits_and_digit_words_only():
    assert [digit_of(n) for n in ("7", " one ", "NINE", "zero", "0")] == [7, 1, 9, 0, 0]
    assert [digit_of(n) for n in ("10", "one1", "eleven", "7a", "")] == [None] * 5


def test_the_key_sentence_says_the_digits_plainly():
    digits = classes_named(*DIGIT_NAMES)
    text = key_note(assign_keys(digits, {}), digits)
    assert text.startswith("Number keys are the classes' own digits (**0** is **zero**; "
                           "Esc shows the whole image)")
    assert "more" not in text and "**/**" in text
    plain = classes_named(*[f"c{k}" for k in range(3)])
    assert key_note(assign_keys(plain, {}), plain).startswith("Keys 1-9: your most-used")


def test_box_counts_are_per_annotator_and_per_class(demo_store):
    store = demo_store
    a, b = store.classes()[:2]
    pool = store.query_pool()[:3]
    before = store.class_box_counts("ana")
    store.set_labels(pool[0], [LabeledBox(a.id, Box(0, 0, 5, 5)),
                               LabeledBox(b.id, Box(5, 5, 9, 9))], source="human",
                     author="ana")
    store.set_labels(pool[1], [LabeledBox(b.id, Box(0, 0, 5, 5))], source="human",
                     author="Ana")  # the same person, another case
    store.set_labels(pool[2], [LabeledBox(a.id, Box(0, 0, 5, 5))], source="human",
                     author="bo")
    after = store.class_box_counts("ana")
    assert after.get(a.id, 0) - before.get(a.id, 0) == 1
    assert after.get(b.id, 0) - before.get(b.id, 0) == 2
    # a relabel replaces the image's boxes: the counts follow the current labels
    store.set_labels(pool[1], [LabeledBox(a.id, Box(0, 0, 5, 5))], source="human",
                     author="ana")
    again = store.class_box_counts("ana")
    assert (again[a.id] - after[a.id], after[b.id] - again[b.id]) == (1, 1)


@pytest.fixture
def project(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    return demo_store


def test_the_page_shows_the_keys_on_chips_and_picks_any_class_by_the_picker(project):
    store = project
    store.ensure_classes(["pedestrian", "wheelbarrow"])
    classes = store.classes()
    make_selection(store)
    at = open_review(store)
    chips = {b.label: b.key for b in at.button if b.key and b.key.startswith("rv-pal-")}
    assert chips["one"] == f"rv-pal-{classes[1].id}" and len(chips) == 10  # key 1 is "one"
    assert chips["zero"] == f"rv-pal-{classes[0].id}"  # and 0 is "zero"
    assert any("own digits" in c.value for c in at.caption)
    picker = at.selectbox(key="rv-class-pick")
    assert picker.options == [c.name for c in classes]  # every class, the 12th included
    wheelbarrow = classes[-1]
    picker.set_value(wheelbarrow.id).run()
    assert not at.exception, at.exception
    assert at.session_state["rv_class"] == wheelbarrow.id
    at.button(key=chips["three"]).click().run()  # a chip: the picker follows it
    assert at.session_state["rv_class"] == classes[3].id
    assert at.selectbox(key="rv-class-pick").value == classes[3].id


def test_the_keys_stay_put_for_the_session_and_follow_the_counts_in_the_next(project):
    store = project
    store.db.execute("UPDATE classes SET name = 'kind ' || id")  # no digit names
    classes = store.classes()
    pool = make_selection(store)

    def chips(at):
        return [b.key for b in at.button if b.key and b.key.startswith("rv-pal-")]

    at = open_review(store)
    first = chips(at)
    assert first == [f"rv-pal-{c.id}" for c in classes[:9]]  # a newcomer: class order
    busy = classes[7]  # ana saves boxes of the eighth class (elsewhere, or in another tab)
    store.set_labels(store.query_pool()[len(pool)], [LabeledBox(busy.id, Box(0, 0, 9, 9))] * 3,
                     source="human", author="ana")
    at.button(key="rv-skip").click().run()
    assert chips(at) == first  # this session: the keys do not move
    again = open_review(store)  # the next session: the most-used class takes key 1
    assert chips(again)[0] == f"rv-pal-{busy.id}"
