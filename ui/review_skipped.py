"""The Review page's "Show my skipped": the images of the selection the annotator skipped
(still unlabeled), each opened in the editor with one click; saving one there labels it
and ends its skip, like any save."""
from __future__ import annotations

import streamlit as st

from al_core.store import Store
from al_core.types import Selection
from ui import review_nav, review_tab, state
from ui.errors import guarded_callback
from ui.text import md_code

SHOWN = 60  # buttons at most: a longer list says how many more


def panel(store: Store, selection: Selection, user: str) -> None:
    """An expander listing ``user``'s skipped images of ``selection``; nothing when none."""
    ids = store.skipped(selection.id, user)
    st.session_state["rv_skipped_shown"] = ids[:SHOWN]  # a save of one redraws the page
    if not ids:
        return
    items = {i.id: i for i in store.items(ids=ids[:SHOWN])}
    with st.expander(f"Show my skipped ({len(ids)})", icon=":material/redo:"):
        st.caption("Images of this selection you skipped: they stay unlabeled and out of "
                   "your queue until you open one here and save it.")
        with st.container(horizontal=True, gap="small"):
            for item_id in ids[:SHOWN]:
                st.button(f"#{item_id}", key=f"rv-skipped-{item_id}",
                          help=f"Open {md_code(items[item_id].file)} in the editor",
                          on_click=open_skipped, args=(item_id, user))
        if len(ids) > SHOWN:
            st.caption(f"and {len(ids) - SHOWN} more: label or skip past these first.")


@guarded_callback("opening a skipped image", on_error=lambda text: review_nav.msg(
    "error", text))
def open_skipped(item_id: int, user: str) -> None:
    """Open a skipped image in the editor (one at a time mode); the image that was open
    comes back right after it (next in the editor's queue)."""
    review_nav.sync()
    was = st.session_state.get("rv_item")
    with state.store() as store:
        if not review_nav.open_item(store, item_id, user):
            return
    st.session_state["rv-mode"] = "One at a time"
    review_tab.scroll_to_top()  # the editor, above this list
    queue = st.session_state.setdefault("rv_queue", [])
    if was is not None and was != item_id and was not in queue:
        queue.insert(0, was)
    review_nav.msg("info", f"Opened #{item_id}, which you skipped: save it to label it.")
