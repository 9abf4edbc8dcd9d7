"""Review: correct a selection's pre-labels, one image at a time or a page of thumbnails
at a time, or fix any image's labels (``?item=ID``). Deep link: ``?selection=TAG&item=ID``."""
import streamlit as st

from al_core.review.prelabel_threshold import prelabel_threshold, project_default
from al_core.review.save import set_project_min_score
from ui import (auth, params, review_boxlevel, review_editor, review_grid, review_nav,
                review_skipped, review_upload, state)
from ui.annotator import annotator
from ui.chrome import editor_frame, page_entry
from ui.flash import show_flash
from ui.text import md

page_entry()

PAGE = "review"  # its url path: the notices of its links

store = state.store()
editor_frame()  # the image first; no focus ring round the page
show_flash()
user = annotator()

selections = store.selections()
tags = [s.tag for s in reversed(selections)]
# a link's values, checked once (ui.params); one that is not valid is said, with what
# the page shows instead, in a notice that stays until the page is left
single = "item" in st.query_params and "selection" not in st.query_params
bad_item = None
try:
    wanted_item = params.id_param("item", "image")
    if wanted_item is not None:
        store.item(wanted_item)
except ValueError as exc:
    wanted_item, bad_item = None, f"The link's image is not valid: {exc}."
except KeyError:
    wanted_item, bad_item = None, f"The link's image #{wanted_item} is not in this project."
try:
    wanted_tag = params.tag_param("selection", tags)
except ValueError as exc:
    wanted_tag, bad_tag = None, f"The link's selection is not valid: {exc}."
else:
    bad_tag = None if wanted_tag is None or wanted_tag in tags else \
        f"There is no selection '{md(wanted_tag)}' in this project."

if single:  # one image, opened from the Images page
    tag = None
    if bad_item:
        params.notice("item", PAGE, f"{bad_item} No image is open: open one from the Images "
                                    "page, or review a selection.")
elif not selections:
    params.show_notices(PAGE)
    st.info("No selection yet: a query round picks the images that teach the model most, "
            "with the model's boxes as pre-labels.")
    if auth.may("query"):
        st.page_link("pages/query.py", label="Make one on the Query page",
                     icon=":material/manage_search:")
    else:
        st.caption("A lead makes one on the Query page; it shows here when it is ready.")
    store.close()
    st.stop()
else:
    open_ = [s.tag for s in reversed(selections) if s.labeled < s.size]
    working_on = st.session_state.get("rv_sel")
    default = (wanted_tag if wanted_tag in tags else working_on if working_on in tags
               else open_[0] if open_ else tags[0])
    if bad_tag:
        params.notice("selection", PAGE, f"{bad_tag} Showing selection "
                                         f"{md(default)} instead.")
    if bad_item:
        params.notice("item", PAGE, f"{bad_item} Showing selection {md(default)} "
                                    "from its next image instead.")
    summary = {s.tag: s for s in selections}
    pick, mode_col = st.columns([3, 1.25], vertical_alignment="center")
    tag = pick.selectbox(
        "Selection", tags, index=tags.index(default), label_visibility="collapsed",
        format_func=lambda t: f"Selection {t} · round {summary[t].round} · "
                              f"{summary[t].strategy} · {summary[t].size} images")
    if tag != default:
        params.forget("item", "selection")  # another selection was picked
params.show_notices(PAGE)
# the editor leaves the notices' height out of the canvas's: the image stays whole
st.session_state[review_editor.NOTICES_PX] = 96 * len(params.notices(PAGE))

if tag is not None and wanted_tag is not None and tag != wanted_tag:
    wanted_item = None  # another selection was picked: the link's image was of the old one
    st.query_params.pop("item", None)
new_start = st.session_state.get("rv_sel", "unset") != tag or "rv_item" not in st.session_state
if new_start:
    review_nav.reset(tag, store, user)
    if tag is not None:
        st.query_params["selection"] = tag


def back_to_a_selection() -> None:
    """The button that leaves a single image (or none) for the selections' review."""
    if st.button("Review a selection instead", key="rv-to-batch",
                 icon=":material/arrow_back:"):
        st.query_params.clear()
        st.session_state["rv_sel"] = "unset"
        params.forget("item")
        st.rerun()


# act on a link once: the editor keeps the URL on its current image (rv_link), so only a
# new link (another image opened from the Images page, an edited URL) opens an image
if wanted_item is not None and (new_start or str(wanted_item) != st.session_state.get("rv_link")):
    review_nav.open_item(store, wanted_item, user)
if single and bad_item:  # the page says so and opens nothing (no other image in silence)
    if selections:
        back_to_a_selection()
    st.page_link("pages/images.py", label="Open an image from the Images page",
                 icon=":material/photo_library:")
    store.close()
    st.stop()

selection = store.selection(tag) if tag is not None else None
# the model's threshold (per class, from its validation images) unless the annotator
# has their own (al_core.review.prelabel_threshold)
model_threshold = prelabel_threshold(
    store, selection.model_id if selection is not None else store.active_model_id())
own_score = store.user_setting(user, "min_score")
min_score = float(own_score) if own_score else model_threshold.min_score()
with st.sidebar:
    st.caption("REVIEW")
    new_score = st.slider("Hide pre-labels scoring below", 0.0, 1.0, float(min_score), 0.05,
                          help="Hidden pre-labels are not saved. Until you move it, the "
                               "model's threshold applies; once moved, yours is remembered.")
    if new_score != float(min_score):
        store.set_user_setting(user, "min_score", str(new_score))
        min_score, own_score = new_score, str(new_score)
    names = {c.id: c.name for c in store.classes()}
    per_class = ", ".join(f"{names.get(c, c)} {t:.2f}"
                          for c, t in sorted(model_threshold.per_class.items()))
    per_class_help = f"Classes with their own: {md(per_class)}." if per_class else None
    if own_score:
        st.caption(f"Your own threshold. The model's: {md(model_threshold.why)}",
                   help=per_class_help)
        if st.button("Use the model's threshold", key="rv-model-score",
                     icon=":material/restart_alt:"):
            store.set_user_setting(user, "min_score", "")
            st.rerun()
    else:
        st.caption(f"Threshold {md(model_threshold.why)}", help=per_class_help)
    project_fallback = project_default(store)
    if (own_score and min_score != project_fallback and auth.may("query") and st.button(
            f"Make {min_score:.2f} the project's default", key="rv-default-score",
            help=f"Now {project_fallback:.2f}: what an annotator who has not moved the "
                 "slider starts with where the model's validation images give no threshold")):
        set_project_min_score(store, min_score)
        st.rerun()
    box_level = review_boxlevel.sidebar_toggle(  # the model whose pre-labels are shown
        store, user, selection.model_id if selection is not None else store.active_model_id())
    st.caption(f"Annotator: **{md(user)}**")

review_nav.lease_keeper(store.root, user)
if selection is None:
    if selections:
        back_to_a_selection()
    review_editor.render(store.root, None, user, min_score, box_level)
else:
    st.session_state.setdefault("rv-mode", "One at a time")  # the grid may set it
    mode = mode_col.segmented_control("Mode", ["One at a time", "Grid"], required=True,
                                      key="rv-mode", label_visibility="collapsed")
    if mode == "Grid":
        review_grid.render(store.root, selection, user, min_score)
    else:
        review_editor.render(store.root, selection, user, min_score, box_level)
    review_skipped.panel(store, selection, user)  # "Show my skipped"
    review_upload.panel(store, selection, user)
    if store.has_oracle():
        review_upload.oracle_panel(store, selection)
store.close()
