"""Upload a selection's batch corrected in an external tool (CVAT, Label Studio...): the
browser's ``import --selection``."""
from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from al_core.formats.coco_import import ImportFailed
from al_core.review.external import import_selection
from al_core.review.save import label_selection_from_oracle
from al_core.store import Store
from al_core.types import Selection
from ui import auth
from ui.flash import flash
from ui.text import md


def panel(store: Store, selection: Selection, user: str) -> None:
    if not auth.may("import"):  # team mode: a lead's import (al_core refuses others)
        return
    with st.expander(f"Upload a corrected COCO file for {md(selection.tag)}"):
        st.caption("Exported from the Query page and corrected in another tool: the batch's "
                   "images it lists are labeled (matched by file name); others are reported.")
        upload = st.file_uploader("COCO instances JSON", type=["json"], key="rv-upload")
        if upload is not None and st.button("Import labels", key="rv-upload-go"):
            with tempfile.TemporaryDirectory() as tmp:
                # a fixed name: the browser's ('..', '', 300 bytes) is no path to write to
                path = Path(tmp) / "upload.json"
                path.write_bytes(upload.getvalue())
                try:  # the annotator's own name, so the leases they hold are theirs;
                    # the reviews say "import" as their action
                    report = import_selection(store, selection.tag, path, author=user)
                except (ImportFailed, ValueError) as exc:
                    st.error(f"Not imported: {md(str(exc).replace(str(path), upload.name))}")
                    return
            flash("warning" if report.problems else "success",
                  f"Labeled {report.items_labeled} of {len(selection.items)} images of "
                  f"{selection.tag} from {upload.name} ({report.boxes_imported} boxes).",
                  report.problems)


def oracle_panel(store: Store, selection: Selection) -> None:
    """The demo's stand-in for a person: label the rest of the batch from the hidden
    ground truth, so a demo user can run the loop without drawing every box."""
    with st.expander(f"Demo: label the rest of {md(selection.tag)} from the ground truth"):
        st.caption("This demo project keeps the true boxes hidden. This labels the batch's "
                   "unlabeled images that nobody has open with them, as reviews by `oracle` "
                   "(their corrections against the pre-labels are counted like anyone's).")
        if st.button("Label this batch from the ground truth", key="rv-oracle"):
            n = label_selection_from_oracle(store, selection.tag)
            flash("success", f"Labeled {n} images of {selection.tag} from the ground truth; "
                             "they joined train and val.")
