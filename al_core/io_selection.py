"""Label a selection's images from a COCO file corrected in an external tool (CVAT,
Label Studio, FiftyOne): matched to the selection's items by file name, saved as reviews
with their corrections counted against the pre-labels the batch was exported with."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from al_core.io_coco import (ImportReport, _annotation_boxes, _categories,
                             _check_coco_instances, _int_id, read_json, safe_relative)
from al_core.review import DEFAULT_MIN_SCORE, HeldError, prelabels, submit_review
from al_core.store import Store
from al_core.types import LabeledBox


def import_selection(store: Store, tag: str, coco: str | Path, *,
                     author: str | None = None) -> ImportReport:
    """Label a selection's items from a COCO instances file corrected in an external tool
    (the images are already in the project). COCO images are matched to the selection's
    items by file name (the relative path, else a base name unique in the selection);
    exactly the matched items are labeled, in one transaction. Images of the file that
    are not in the selection, and selection items the file lacks, are reported."""
    data = read_json(coco, "COCO file")
    _check_coco_instances(data, coco)
    selection = store.selection(tag)
    items = store.items(ids=[i.item_id for i in selection.items])
    report = ImportReport(images_found=len(data["images"]))
    categories = _categories(data["categories"], report)
    matched = _match_selection_images(data["images"], items, tag, report)
    labels = _annotation_boxes(data.get("annotations", []), matched, categories, report,
                               what="annotation", need_score=False)
    found_ids = {f.item_id for f in matched.values()}
    for item in items:
        if item.id not in found_ids:
            report.problem(f"{item.file} (item #{item.id}) of selection {tag} is not in the "
                           "file; its labels are unchanged")
    author = author or f"import:{Path(coco).name}"
    shown = prelabels(store, selection.model_id, [f.item_id for f in matched.values()],
                      min_score=DEFAULT_MIN_SCORE)  # what the export carried
    reviewed = {r["item_id"]: r["author"] for r in store.reviews(selection_id=selection.id)}
    with store.write():
        class_ids = store.ensure_classes(sorted({n for boxes in labels.values()
                                                 for n, _, _ in boxes}))
        for image_id, f in matched.items():
            boxes = [LabeledBox(class_ids[name], box) for name, box, _ in labels[image_id]]
            if f.item_id in reviewed:
                report.problem(f"COCO image {image_id}: item #{f.item_id} was already "
                               f"reviewed by {reviewed[f.item_id]} in the app; its labels "
                               "are replaced by the file's")
            try:  # counted against the pre-labels the export carried
                submit_review(store, f.item_id, boxes, author=author, action="import",
                              prelabels=[b for b, _ in shown[f.item_id]], selection=selection)
            except HeldError as exc:
                report.problem(f"COCO image {image_id}: {exc}")
                continue
            report.items_labeled += 1
            report.boxes_imported += len(boxes)
    report.images_imported = len(matched)
    return report


@dataclass(frozen=True)
class _SelectionImage:
    item_id: int
    width: int
    height: int


def _match_selection_images(coco_images: list, items: list, tag: str, report: ImportReport
                            ) -> dict[int, _SelectionImage]:
    """COCO image id -> selection item, by relative path, else by a unique base name."""
    by_file = {i.file: i for i in items}
    by_base: dict[str, list] = {}
    for i in items:
        by_base.setdefault(PurePosixPath(i.file).name, []).append(i)
    matched: dict[int, _SelectionImage] = {}
    used: dict[int, int] = {}
    for entry in coco_images:
        image_id = _int_id(entry.get("id")) if isinstance(entry, dict) else None
        name = entry.get("file_name") if isinstance(entry, dict) else None
        rel = safe_relative(name) if isinstance(name, str) else None
        if image_id is None or rel is None or image_id in matched:
            report.problem(f"COCO image {str(entry)[:80]}: skipped, needs a unique integer 'id' "
                           "and a relative 'file_name'")
            continue
        item = by_file.get(rel)
        if item is None and len(by_base.get(PurePosixPath(rel).name, [])) == 1:
            item = by_base[PurePosixPath(rel).name][0]
        if item is None:
            report.problem(f"COCO image {image_id} '{name}': not in selection {tag}; skipped")
        elif item.id in used:
            report.problem(f"COCO image {image_id} '{name}': item #{item.id} is already matched "
                           f"by COCO image {used[item.id]}; skipped")
        else:
            used[item.id] = image_id
            matched[image_id] = _SelectionImage(item.id, item.width, item.height)
    return matched
