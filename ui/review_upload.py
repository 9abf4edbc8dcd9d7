"""Upload a selection's batch corrected in an external tool (CVAT, Label Studio...): the
browser's ``import --selection``."""
from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from al_core.io_coco import ImportFailed, import_selection
from al_core.store import Store
from al_core.types import Selection
from ui.flash import flash


def panel(store: Store, selection: Selection, user: str) -> None:
    with st.expander(f"Upload a corrected COCO file for {selection.tag}"):
        st.caption("Exported from the Query page and corrected in another tool: the batch's "
                   "images it lists are labeled (matched by file name); others are reported.")
        upload = st.file_uploader("COCO instances JSON", type=["json"], key="rv-upload")
        if upload is not None and st.button("Import labels", key="rv-upload-go"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / Path(upload.name).name
                path.write_bytes(upload.getvalue())
                try:
                    report = import_selection(store, selection.tag, path,
                                              author=f"{user} (import:{upload.name})")
                except (ImportFailed, ValueError) as exc:
                    st.error(f"Not imported: {exc}")
                    return
            flash("warning" if report.problems else "success",
                  f"Labeled {report.items_labeled} of {len(selection.items)} images of "
                  f"{selection.tag} from {upload.name} ({report.boxes_imported} boxes).",
                  report.problems)
