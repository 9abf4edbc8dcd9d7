"""Project overview: counts by split and status, boxes per class; split, import, export."""
import json

import pandas as pd
import streamlit as st

from al_core.formats.coco_import import ImportFailed, import_folder
from al_core.formats.export import coco_instances, export_yolo
from al_core.formats.import_report import plural
from al_core.permissions import PermissionDenied
from al_core.query.duplicates import near_duplicates
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store
from al_core.training.split import parse_distribution, split_project
from al_core.types import SPLITS
from ui import errors, state
from ui.chrome import page_entry
from ui.flash import flash, show_flash
from ui.text import md, md_code

REPLACE_LABELS = "Replace the labels of images already labeled in the project"
CROWD_AS_BOXES = "Import crowd regions as ordinary boxes"

page_entry()

store = state.store()
status = store.status()

st.title(md(store.root.name))
st.caption(f"Project folder {md_code(store.root)}")
show_flash()

pool = status.by_split_status.get("pool", {}).get("unlabeled", 0)
test = sum(status.by_split_status.get("test", {}).values())
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Images", f"{status.items:,}", border=True)
c2.metric("Labeled", f"{status.labeled:,}", border=True,
          delta=f"{100 * status.labeled / status.items:.0f}% of all" if status.items else None,
          delta_color="off", delta_arrow="off")
c3.metric("Unlabeled pool", f"{pool:,}", border=True)
c4.metric("Test set", f"{test:,}", border=True,
          delta="frozen" if status.test_frozen and test else "not split yet",
          delta_color="off", delta_arrow="off")
active_id = store.active_model_id()
if active_id is None:
    c5.metric("Active model", "none", border=True, delta="none yet", delta_color="off",
              delta_arrow="off")
else:  # the id fits the card; the name (often long) goes underneath
    c5.metric("Active model", f"#{active_id}", border=True,
              delta=md(store.model(active_id)["name"]), delta_color="off", delta_arrow="off")

left, right = st.columns([2, 3])
with left:
    st.subheader("Items by split")
    rows = []
    for split in ("pool", *SPLITS):
        counts = status.by_split_status.get(split, {})
        rows.append({"split": split, "unlabeled": counts.get("unlabeled", 0),
                     "labeled": counts.get("labeled", 0)})
    table = pd.DataFrame(rows).set_index("split")
    table["total"] = table.sum(axis=1)
    st.dataframe(table, width="stretch")
    st.caption("The pool holds items not yet in a split; labeled items enter train, val or "
               "test when the project is split. The test split is frozen once drawn.")
with right:
    st.subheader("Labeled boxes per class")
    if sum(status.boxes_by_class.values()):
        chart = pd.DataFrame({"class": list(status.boxes_by_class),
                              "boxes": list(status.boxes_by_class.values())})
        st.bar_chart(chart, x="class", y="boxes", sort=False, height=260)
    else:
        st.info("No labeled boxes yet: import a COCO file or label some images"
                + (" (on the demo: label from the ground truth, under Split below)."
                   if store.has_oracle() else "."))

split_tab, import_tab, export_tab, duplicates_tab = st.tabs(
    ["Split", "Import", "Export", "Near-duplicates"])

with split_tab:
    unsplit = store.count_items(status="labeled", unsplit=True)
    st.markdown(f"**{unsplit:,}** labeled items have no split yet."
                + (" The test split is frozen: new items go to train and val."
                   if status.test_frozen and test else ""))
    choice = st.segmented_control("Distribution (train/val/test)",
                                  ["80/10/10", "70/15/15", "equal", "custom"],
                                  default="80/10/10", required=True, key="split_choice")
    custom = st.text_input("Custom distribution", placeholder="train=0.7,val=0.2,test=0.1",
                           disabled=choice != "custom")
    seed = st.number_input("Seed", value=0, step=1)
    resplit = st.checkbox("Redraw every split, the frozen test set included",
                          help="Models evaluated on the old test set become incomparable "
                               "with new ones.")
    if st.button("Split labeled items", type="primary", disabled=not unsplit and not resplit,
                 help=None if unsplit or resplit else "Every labeled item has a split."):
        try:
            dist = parse_distribution(custom if choice == "custom" else choice)
            report = split_project(store, distribution=dist, seed=int(seed), resplit=resplit)
        except (ValueError, PermissionDenied) as exc:
            st.error(errors.not_done("", exc))
        else:
            flash("success", "Assigned " + ", ".join(
                f"{n} to {s}" for s, n in report.assigned.items()) + ".")

    if store.has_oracle() and pool:
        # the demo keeps its ground truth hidden: this is how a demo user gets a first
        # training set without drawing boxes (the CLI's `demo --labeled N`)
        st.divider()
        st.markdown("**Demo: label from the hidden ground truth.** Label random pool images "
                    "as a perfect annotator would, and split them into train and val.")
        n = st.number_input("Images to label", min_value=1, max_value=pool,
                            value=min(200, pool), step=50, key="oracle_n")
        if st.button("Label from the ground truth", key="oracle_label"):
            try:
                store.authorize("label")  # both steps' rights first: never half of it
                store.authorize("split")
                with store.write():  # and both or neither
                    chosen = label_from_oracle_at_random(store, int(n), seed=int(seed))
                    report = split_project(store, seed=int(seed))
            except (ValueError, PermissionDenied) as exc:
                st.error(errors.not_done("", exc))
            else:
                flash("success", f"Labeled {len(chosen)} images from the ground truth: "
                      + ", ".join(f"{k} to {s}" for s, k in report.assigned.items() if k)
                      + ".")

with import_tab:
    with st.form("import"):
        folder = st.text_input("Images folder (searched recursively for jpg, png, webp)")
        coco = st.text_input("COCO instances JSON (optional)")
        reference = st.checkbox("Leave images in place (reference large folders instead of "
                                "copying them into the project)")
        replace_labels = st.checkbox(
            REPLACE_LABELS, help="Images already in the project that are unlabeled always "
            "take the file's labels; labeled ones keep theirs unless this is ticked. Each "
            "image's label history keeps the old boxes.")
        crowd_as_boxes = st.checkbox(
            CROWD_AS_BOXES, help="CVAT writes masks as crowd regions (iscrowd 1) with an "
            "exact box. Without this, an image with a crowd region stays unlabeled.")
        submitted = st.form_submit_button("Import", type="primary")
    if submitted and not folder.strip():
        st.warning("Enter the images folder to import.")
    elif submitted:
        bar = st.progress(0.0, text="Reading images...")
        try:
            report = import_folder(
                store, state.inside_allowed_roots(folder, "images folder"),
                coco=state.inside_allowed_roots(coco, "COCO file") if coco.strip() else None,
                reference=reference, replace_labels=replace_labels,
                crowd_as_boxes=crowd_as_boxes,
                progress=lambda d, t, w: bar.progress(d / max(t, 1), text=f"{md(w)} {d}/{t}"))
        except (ImportFailed, OSError, ValueError, PermissionDenied) as exc:
            bar.empty()
            st.error(errors.not_done("Nothing was imported", exc))
        else:  # the per-image lines, then what to do about them
            flash("success" if not report.problems else "warning",
                  report.summary(options={"replace_labels": f"'{REPLACE_LABELS}' ticked",
                                          "crowd_as_boxes": f"'{CROWD_AS_BOXES}' ticked"}),
                  report.lines(), title="What happened: "
                  f"{plural(len(report.problems), 'problem')}, "
                  f"{plural(len(report.notes), 'note')}")

with export_tab:
    scope = st.selectbox("Items", ["all labeled", *SPLITS])
    split_filter = None if scope == "all labeled" else scope
    skip_auto = st.checkbox(
        "Leave out boxes accepted without asking (box-level review)",
        help="Boxes saved by box-level review without a person looking at them are "
             "marked; ticked, neither export holds them.")
    root, actor = store.root, store.actor_name

    def coco_json() -> str:
        with Store(root, actor=actor) as s:  # runs in the download's own thread, as this user
            return json.dumps(coco_instances(s, split=split_filter,
                                             without_auto_accepted=skip_auto))

    st.download_button(
        "Download COCO instances JSON", icon=":material/download:", data=coco_json,
        file_name=f"{root.name}-{scope.replace(' ', '-')}.coco.json", mime="application/json")
    with st.form("yolo"):
        out = st.text_input("YOLO dataset folder", value=str(root / "exports" / "yolo"))
        if st.form_submit_button("Write YOLO dataset"):
            try:
                counts = export_yolo(store, state.inside_allowed_roots(out, "YOLO folder"),
                                     split=split_filter, without_auto_accepted=skip_auto)
            except (ValueError, OSError) as exc:
                st.error(f"Nothing was written: {md(exc)}")
            else:
                st.success(f"Wrote {counts['images']} images and {counts['annotations']} "
                           f"boxes to {md_code(out)}.")
@st.cache_data(ttl=300, max_entries=4, show_spinner="Looking for near-duplicates...")
def stored_duplicates(_store: Store, root: str, n_items: int, n_selections: int):
    """Keyed by what adds stored features (new items, a query's picks): a large pool's
    pairs are not searched again at every rerun. The check button clears it."""
    return near_duplicates(_store, [i.id for i in _store.items()])


with duplicates_tab:
    all_ids = [i.id for i in store.items()]
    found = stored_duplicates(store, str(store.root), len(all_ids), len(status.selections))
    st.caption(f"Images whose pictures are nearly the same (cosine >= {found.threshold} of "
               "their layout, colour and edge features): a JPEG re-encoding or a resized copy. "
               "A query never puts two of them in one batch. Features are stored for every "
               "image a query picked, and for all images once checked here.")
    d1, d2, d3 = st.columns(3)
    d1.metric("Images checked", f"{found.items_checked:,} of {len(all_ids):,}", border=True)
    d2.metric("Near-duplicate pairs", f"{len(found.pairs):,}", border=True)
    d3.metric("Images in a pair", f"{found.items_in_pairs:,}", border=True)
    if found.items_checked < len(all_ids) and st.button(
            f"Check all {len(all_ids):,} images", key="check_duplicates",
            help="Computes each unchecked image's features once (a few milliseconds each)."):
        bar = st.progress(0.0, text="Reading images...")
        found = near_duplicates(store, all_ids, compute=True,
                                report=lambda f, text: bar.progress(min(f, 1.0), text=md(text)))
        bar.empty()
        stored_duplicates.clear()
        flash("success", f"Checked {found.items_checked:,} images: "
              f"{plural(len(found.pairs), 'near-duplicate pair')}.")
    if found.items_checked and not found.pairs:
        st.success(f"No near-duplicates among the {found.items_checked:,} images checked.")
    shown = found.pairs[:6]
    items = {i.id: i for i in store.items(ids=[i for a, b, _ in shown for i in (a, b)])}
    for a, b, cosine in shown:
        row = st.columns([1, 1, 2])
        for col, item in zip(row, (items[a], items[b])):
            col.image(str(store.image_path(item)), width=120)
            col.caption(f"{md(item.file)} ({item.split or 'pool'}, {item.status})")
        row[2].markdown(f"cosine **{cosine:.3f}**")
    if len(found.pairs) > len(shown):
        st.caption(f"The {len(shown)} most similar of {len(found.pairs):,} pairs.")

store.close()
