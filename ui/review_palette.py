"""The Review editor's class palette: the class for new boxes, which is also the class a
highlighted box takes, set by a number key, a chip, or a type-to-search picker.

- Keys 1-9 (:func:`assign_keys`) go to the nine classes the annotator has saved most
  boxes of in this project (first-time users: the class order), fixed for the session so
  a key never moves under the fingers; a class named by a digit or a digit word (``7``,
  ``one``) takes that digit's key, so on the digits demo key 1 is ``one``, never
  ``zero``. The chips say which key is which (the name, then the key: ``car 1``).
- Any class, keyed or not, is found by the picker high in the side panel: ``/`` or ``L``
  puts the cursor in it (an inline Components v2 keydown listener, :data:`_SEARCH_JS`,
  that ignores keys typed into text fields as Streamlit's own shortcuts do), typing
  filters the list, Enter picks and hands the keys back to the page.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from al_core.store import Store
from al_core.types import ClassInfo
from ui import canvas
from ui import review_nav as nav
from ui.text import md

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
KEYS = range(1, 10)  # the number keys a class can have
PICKER_KEY = "rv-class-pick"  # the picker's widget key (its value: a class id)
_SESSION_KEYS = "class_keys"  # session state: (project, user, class ids) -> keys

_SEARCH_JS = """
export default function ({ data }) {
  window.__alsPicker = data.picker;
  if (window.__alsClassSearch) return;
  window.__alsClassSearch = true;
  const typing = (e) => e.composedPath().some((n) => n && n.nodeType === 1 &&
    (["INPUT", "TEXTAREA", "SELECT"].includes(n.tagName) || n.isContentEditable));
  const input = () => document.querySelector(".st-key-" + window.__alsPicker + " input");
  document.addEventListener("keydown", (e) => {
    const box = input();
    if (!box) return;  // another page: the picker is not there
    if (e.composedPath().includes(box)) {  // picked (Enter) or given up (Esc): the page's
      if (e.key === "Enter" || e.key === "Escape") setTimeout(() => box.blur(), 0);  // keys
      return;  // work again
    }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    if (e.key === "/" || e.key === "l" || e.key === "L") {
      e.preventDefault();  // not typed into the picker
      box.focus();
      box.click();
    }
  }, true);
}
"""

_search = st.components.v2.component("als_class_search", js=_SEARCH_JS,
                                     html="<span></span>", isolate_styles=False)


def zero_keyed(classes: Sequence[ClassInfo]) -> bool:
    """Whether a class takes the 0 key (:func:`assign_keys`): then 0 is not the zoom's
    "whole image" key (Esc is)."""
    return any(digit_of(c.name) == 0 for c in classes)


def digit_of(name: str) -> int | None:
    """The digit a class name is (``"7"``, ``"one"``, ``" Nine "``: 7, 1, 9), else None."""
    text = name.strip().casefold()
    if len(text) == 1 and text in "0123456789":
        return int(text)
    return DIGIT_WORDS.index(text) if text in DIGIT_WORDS else None


def assign_keys(classes: Sequence[ClassInfo], counts: Mapping[int, int]) -> dict[int, int]:
    """The number keys of the palette: ``{key 0-9: class id}``, sorted by key.

    A class whose name is a digit or digit word takes that digit's key (``zero``/``0``
    takes key 0, which is otherwise the zoom's "whole image" key), the first such class
    in ``classes`` order when two name the same digit. The keys left go to the other classes with the most
    boxes in ``counts`` (``{class_id: boxes}``, :meth:`Store.class_box_counts`), ties and
    classes never used in ``classes`` order. A digit-named class never takes another
    digit's key, so a key never reads as the wrong digit."""
    keys: dict[int, int] = {}
    named = set()
    for c in classes:
        digit = digit_of(c.name)
        if digit is not None:
            named.add(c.id)
            if (digit in KEYS or digit == 0) and digit not in keys:
                keys[digit] = c.id
    order = {c.id: n for n, c in enumerate(classes)}
    rest = sorted((c.id for c in classes if c.id not in named),
                  key=lambda cid: (-counts.get(cid, 0), order[cid]))
    free = [k for k in KEYS if k not in keys]
    keys.update(zip(free, rest))
    return dict(sorted(keys.items()))


def session_keys(store: Store, user: str, classes: Sequence[ClassInfo]) -> dict[int, int]:
    """:func:`assign_keys` for ``user`` on this project, computed once a session (and
    again only when the project's classes change): saving boxes never moves a key."""
    cache = st.session_state.setdefault(_SESSION_KEYS, {})
    ident = (str(store.root), user, tuple(c.id for c in classes))
    if ident not in cache:
        cache[ident] = assign_keys(classes, store.class_box_counts(user))
    return cache[ident]


def key_note(keys: Mapping[int, int], classes: Sequence[ClassInfo]) -> str:
    """The sentence that says how the number keys map (markdown, names escaped)."""
    names = canvas.chip_names(classes)
    digits = [k for k, cid in keys.items()
              if digit_of(next(c.name for c in classes if c.id == cid)) == k]
    unkeyed = [c for c in classes if c.id not in keys.values()]
    if digits and len(digits) == len(keys):
        text = "Number keys are the classes' own digits"
        if 0 in keys:
            text += f" (**0** is **{md(names[keys[0]])}**; Esc shows the whole image)"
    elif digits:
        text = ("Keys: digit-named classes take their digit, the others your most-used "
                "classes (fixed for this session)")
    else:
        text = "Keys 1-9: your most-used classes here (fixed for this session)"
    more = f" · {len(unkeyed)} more" if unkeyed else ""
    return f"{text}{more}: **/** finds any class by name."


def picker(store: Store, user: str, classes: Sequence[ClassInfo]) -> None:
    """The class picker (any class, by typing) and the sentence on the keys, for the
    current class (``st.session_state["rv_class"]``): high in the side panel. A pick sets
    it and relabels the highlighted box (:func:`ui.review_nav.palette`)."""
    keys = session_keys(store, user, classes)
    st.caption("CLASS FOR NEW BOXES AND THE HIGHLIGHTED BOX")
    _picker(classes, canvas.chip_names(classes), st.session_state["rv_class"])
    st.caption(key_note(keys, classes))


def chips(store: Store, user: str, classes: Sequence[ClassInfo]) -> None:
    """The keyed classes as buttons, each with its number key (Streamlit shows the key
    after the name), and the ``/``/``L`` listener that opens the picker."""
    keys = session_keys(store, user, classes)
    names = canvas.chip_names(classes)
    current = st.session_state["rv_class"]
    with st.container(horizontal=True, gap="small"):
        for k, cid in keys.items():
            st.button(md(names[cid]), key=f"rv-pal-{cid}", shortcut=str(k),
                      type="primary" if cid == current else "secondary",
                      on_click=nav.palette, args=(cid,))
        _search(key="als-class-search", data={"picker": PICKER_KEY}, width="content",
                height="content")


def _picker(classes: Sequence[ClassInfo], names: Mapping[int, str], current: int) -> None:
    ids = [c.id for c in classes]
    if st.session_state.get(PICKER_KEY) != current:  # a key or chip picked another class
        st.session_state[PICKER_KEY] = current  # (set before the widget is drawn)
    st.selectbox("Class for new boxes", ids, key=PICKER_KEY, format_func=names.get,
                 label_visibility="collapsed", on_change=_picked,
                 placeholder="Type to find a class", filter_mode="contains")


def _picked() -> None:
    class_id = st.session_state.get(PICKER_KEY)
    if class_id is not None:
        nav.palette(class_id)
