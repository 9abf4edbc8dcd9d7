"""Label a selection's images from a COCO file corrected in an external tool (CVAT,
Label Studio, FiftyOne): matched to the selection's items by file name, saved as reviews
with their corrections counted against the pre-labels the batch was exported with."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from al_core.formats.coco_file import (CocoImage, check_coco_instances, label_image, read_coco,
                                       read_json, size_swapped)
from al_core.formats.coco_names import NameIndex, export_file_names
from al_core.formats.images import exif_turned
from al_core.formats.import_report import ImportReport
from al_core.names import printable
from al_core.review.save import HeldError, prelabels, submit_review
from al_core.store import Store
from al_core.types import DEFAULT_MIN_SCORE
from al_core.types import LabeledBox


def import_selection(store: Store, tag: str, coco: str | Path, *,
                     author: str | None = None, crowd_as_boxes: bool = False) -> ImportReport:
    """Label a selection's items from a COCO instances file corrected in an external tool
    (the images are already in the project). COCO images are matched to the selection's
    items by file name as exporters write it (:mod:`al_core.formats.coco_names`); exactly the
    matched items are labeled, in one transaction, each with every one of its
    annotations or not at all (:func:`al_core.formats.coco_file.label_image`; ``crowd_as_boxes``
    takes crowd regions, CVAT's masks, as ordinary boxes). Images of the file that are
    not in the selection, and selection items the file lacks, are reported.

    Team mode: a lead's work (``import``); an ``author`` given must be the acting user
    (PermissionDenied otherwise), else the reviews name the file."""
    store.authorize("import")
    if author is not None and store.team_mode():
        author = store.own_name(author, what="the import's author")
    data = read_json(coco, "COCO file")
    check_coco_instances(data, coco)
    selection = store.selection(tag)
    items = store.items(ids=[i.item_id for i in selection.items])
    report = ImportReport(images_found=len(data["images"]))
    coco_labels = read_coco(data, report)
    matched = _match_selection_images(coco_labels.images, items,
                                      export_file_names(items, store.images_dir), tag, report)
    labels, by_id = {}, {i.id: i for i in items}
    for image, f in matched.items():  # an image is labeled with all its boxes, or not
        turned = size_swapped(image, f.width, f.height) and exif_turned(
            store.image_path(by_id[f.item_id]))  # read only where it matters
        outcome = label_image(coco_labels, image, f.width, f.height, report,
                              crowd_as_boxes=crowd_as_boxes, exif_turned=turned)
        if outcome.boxes is None and f.labeled:
            report.problem(f"{image} (item #{f.item_id}): its labels are unchanged, "
                           f"{outcome.detail}")
        elif outcome.boxes is None:
            report.leave_unlabeled(f"{image} (item #{f.item_id})", outcome.reason,
                                   outcome.detail + "; it is left as it was")
        else:
            labels[image] = outcome.boxes
            if outcome.detail:
                report.note(f"{image} (item #{f.item_id}): {outcome.detail}")
    found_ids = {f.item_id for f in matched.values()}
    for item in items:
        if item.id not in found_ids:
            report.problem(f"{item.file} (item #{item.id}) of selection {tag} is not in the "
                           "file; its labels are unchanged")
    author = author or f"import:{printable(Path(coco).name, 50)}"  # one visible line
    shown = prelabels(store, selection.model_id, [f.item_id for f in matched.values()],
                      min_score=DEFAULT_MIN_SCORE)  # what the export carried
    reviewed = {r["item_id"]: r["author"] for r in store.reviews(selection_id=selection.id)}
    with store.write():
        used = {n for boxes in labels.values() for n, _ in boxes}
        class_ids = store.ensure_classes([n for n in coco_labels.class_names if n in used])
        for image, boxes in labels.items():
            f = matched[image]
            boxes = [LabeledBox(class_ids[name], box) for name, box in boxes]
            if f.item_id in reviewed:
                report.problem(f"{image}: item #{f.item_id} was already "
                               f"reviewed by {reviewed[f.item_id]} in the app; its labels "
                               "are replaced by the file's")
            try:  # counted against the pre-labels the export carried
                submit_review(store, f.item_id, boxes, author=author, action="import",
                              prelabels=[b for b, _ in shown[f.item_id]], selection=selection)
            except HeldError as exc:
                report.problem(f"{image}: {exc}")
                continue
            report.items_labeled += 1
            report.boxes_imported += len(boxes)
        store.audit("import.selection", object_type="selection", object_id=selection.id,
                    summary=f"labeled {report.items_labeled} images of {tag} from "
                            f"{printable(Path(coco).name, 60)}",
                    after={"items_labeled": report.items_labeled,
                           "boxes": report.boxes_imported, "problems": len(report.problems)})
    report.images_imported = len(matched)
    return report


@dataclass(frozen=True)
class _SelectionImage:
    item_id: int
    width: int
    height: int
    labeled: bool


def _match_selection_images(images: list[CocoImage], items: list, names: dict[int, str],
                            tag: str, report: ImportReport) -> dict[CocoImage, _SelectionImage]:
    """COCO image -> selection item, by file name as exporters write it (see
    :mod:`al_core.formats.coco_names`) against ``names``, the item's file names as the selection's
    export wrote them; an item two images name is matched to neither."""
    by_file = {names[i.id]: i for i in items}
    index = NameIndex(by_file)
    claims: dict[int, list[CocoImage]] = {}
    for image in images:
        m = index.match(image.file_name)
        if m.path is None:
            report.problem(f"{image}: not in selection {tag}"
                           + (f" (or two of its images fit: {', '.join(m.candidates[:5])})"
                              if m.candidates else "") + "; skipped")
        else:
            claims.setdefault(by_file[m.path].id, []).append(image)
    matched: dict[CocoImage, _SelectionImage] = {}
    for item in items:
        listed = claims.get(item.id, [])
        if len(listed) > 1:
            report.problem(f"{item.file} (item #{item.id}): the file lists it "
                           f"{len(listed)} times ({', '.join(map(str, listed[:4]))}); left "
                           "as it was")
        elif listed:
            matched[listed[0]] = _SelectionImage(item.id, item.width, item.height,
                                                 item.status == "labeled")
    return matched
