"""Browse the project's images with their current labels."""
import streamlit as st

from al_core.images import ImageError, load_image
from al_core.types import SPLITS
from ui import state
from ui.chrome import page_entry
from ui.draw import draw_boxes, thumbnail_scale

page_entry()

PAGE_SIZE = 24
THUMBNAIL_PX = 240
COLUMNS = 6

store = state.store()
classes = store.classes()
st.title("Images")

f1, f2, f3 = st.columns([2, 2, 1])
split = f1.segmented_control("Split", ["all", "pool", *SPLITS], default="all", required=True)
status = f2.segmented_control("Status", ["all", "labeled", "unlabeled"], default="all",
                              required=True)
filters = {"status": None if status == "all" else status}
if split == "pool":
    filters["unsplit"] = True
elif split != "all":
    filters["split"] = split
total = store.count_items(**filters)
pages = max(1, -(-total // PAGE_SIZE))
page = f3.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1)
st.caption(f"{total:,} images match")

items = store.items(**filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
labels = store.annotations([i.id for i in items])
for start in range(0, len(items), COLUMNS):
    for col, item in zip(st.columns(COLUMNS), items[start:start + COLUMNS]):
        try:
            image = draw_boxes(load_image(store.image_path(item)), labels[item.id], classes,
                               scale=thumbnail_scale(item.width, item.height, THUMBNAIL_PX))
        except ImageError as exc:
            col.warning(f"#{item.id}: {exc}")
            continue
        n = len(labels[item.id])
        boxes = f"{n} box{'' if n == 1 else 'es'}" if item.status == "labeled" else "unlabeled"
        col.image(image, caption=f"#{item.id} · {item.split or 'pool'} · {boxes}",
                  width="stretch")
if not items:
    st.info("No images match these filters.")
store.close()
