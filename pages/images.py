"""Browse the project's images with their current labels or a model's predictions,
filtered by split, status and selection; each opens in the Review page's editor."""
import streamlit as st

from al_core.formats.images import ImageError, load_image
from al_core.review.prelabel_threshold import prelabel_threshold
from al_core.review.save import prelabels
from al_core.types import SPLITS, Item
from ui import state
from ui.chrome import page_entry
from ui.draw import draw_boxes, thumbnail_scale
from ui.text import md

page_entry()

PAGE_SIZE = 24
THUMBNAIL_PX = 240
COLUMNS = 4  # about THUMBNAIL_PX wide each in the wide layout: the chips stay readable
LABELS, PREDICTIONS = "Current labels", "A model's predictions"


def split_badge(item: Item) -> str:
    """The item's split for a caption; the frozen test split stands out."""
    if item.split == "test":
        return ":orange-badge[:material/lock: test]"
    return item.split or "pool"


def kept(key: str, default, options=None) -> str:
    """``key`` for a widget, its value restored: Streamlit forgets the state of widgets
    that another page's run did not draw, and "Open in editor" runs the Review page."""
    memory = st.session_state.setdefault("img_kept", {})
    value = st.session_state.get(key, memory.get(key, default))
    st.session_state[key] = value if options is None or value in options else default
    return key


def remember(*keys: str) -> None:
    st.session_state["img_kept"].update({k: st.session_state[k] for k in keys})


def first_page() -> None:
    st.session_state["img_page"] = 1


store = state.store()
classes = store.classes()
st.title("Images")

f1, f2, f3, f4 = st.columns([4, 3.2, 2.4, 1.4])  # "test" and "unlabeled" fit at 1280 px
split = f1.segmented_control("Split", ["all", "pool", *SPLITS], key=kept("img_split", "all"),
                             required=True, on_change=first_page)
status = f2.segmented_control("Status", ["all", "labeled", "unlabeled"], required=True,
                              key=kept("img_status", "all"), on_change=first_page)
tags = ["all", *(s.tag for s in reversed(store.selections()))]
tag = f3.selectbox("Selection", tags, key=kept("img_tag", "all", tags), on_change=first_page,
                   help="The images a query round picked.")
filters = {"status": None if status == "all" else status,
           "tag": None if tag == "all" else tag}
if split == "pool":
    filters["unsplit"] = True
elif split != "all":
    filters["split"] = split
total = store.count_items(**filters)
pages = max(1, -(-total // PAGE_SIZE))
kept("img_page", 1, range(1, pages + 1))
page = f4.number_input(f"Page (of {pages})", min_value=1, max_value=pages, key="img_page")

s1, s2, s3 = st.columns([3, 3, 2.4])
show = s1.segmented_control("Show", [LABELS, PREDICTIONS], key=kept("img_show", LABELS),
                            required=True)
model = None
if show == PREDICTIONS:
    predicted = {m["id"]: m for m in store.models() if store.count_predictions(m["id"])}
    if not predicted:
        s2.info("No model has predictions yet: predict with one on the Models page.")
    else:
        active = store.active_model_id()
        model_id = s2.selectbox(
            "Model", list(predicted), format_func=lambda i: f"#{i} {predicted[i]['name']} "
                                                           f"({predicted[i]['status']})",
            key=kept("img_model", active if active in predicted else max(predicted),
                     predicted))
        model = predicted[model_id]
        min_score = s3.slider("Min score", 0.0, 1.0, step=0.05,
                              key=kept("img_min_score",
                                       prelabel_threshold(store, model_id).threshold),
                              help="Predictions scoring below this are not drawn. It starts "
                                   "at the model's pre-label threshold, the Review page's.")
        remember("img_model", "img_min_score")
remember("img_split", "img_status", "img_tag", "img_page", "img_show")

items = store.items(**filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
ids = [i.id for i in items]
if model is None:
    labels = store.annotations(ids)
    shown = {i: [(a, None) for a in labels[i]] for i in ids}
    st.caption(f"{total:,} images match")
else:
    shown = prelabels(store, model["id"], ids, min_score=min_score)
    n = sum(len(v) for v in shown.values())
    st.caption(f"{total:,} images match · {n:,} predicted boxes of model #{model['id']} "
               f"scoring {min_score:.2f} or more on this page")

for start in range(0, len(items), COLUMNS):
    for col, item in zip(st.columns(COLUMNS), items[start:start + COLUMNS]):
        boxes = shown[item.id]
        try:
            image = draw_boxes(load_image(store.image_path(item)), [a for a, _ in boxes],
                               classes, scale=thumbnail_scale(item.width, item.height,
                                                              THUMBNAIL_PX),
                               scores=[s for _, s in boxes])
        except ImageError as exc:
            col.warning(f"#{item.id}: {md(exc)}")
            continue
        n = len(boxes)
        what = (f"{n} predicted" if model is not None else
                f"{n} box{'' if n == 1 else 'es'}" if item.status == "labeled" else "unlabeled")
        col.image(image, width="stretch")
        col.caption(f"#{item.id} · {split_badge(item)} · {what}")
        link = {"item": str(item.id)} if tag == "all" else {"selection": tag,
                                                             "item": str(item.id)}
        col.page_link("pages/review.py", label="Open in editor", icon=":material/edit:",
                      query_params=link)
if not items:
    st.info("No images match these filters.")
store.close()
