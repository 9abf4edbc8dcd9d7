"""Writing a checked import into the project: the labels of images already in it (one
transaction), then the new images a chunk at a time, each whole with its labels. What
to write was decided before (:mod:`al_core.formats.coco_import`); an image whose labels are None
is never labeled here."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from al_core.formats import image_files
from al_core.formats.coco_file import ImageLabels
from al_core.formats.import_report import HELD, ImportReport, plural
from al_core.store import Store
from al_core.types import Box, LabeledBox

Progress = Callable[[int, int, str], None]


class _Project:
    """The classes and the predictions' model, made in the first transaction that needs
    them (a failure there leaves nothing)."""

    def __init__(self, store: Store, class_names: list[str], model_name: str,
                 prelabels: bool) -> None:
        self.store, self.names, self.model_name = store, class_names, model_name
        self.prelabels = prelabels
        self.class_ids: dict[str, int] | None = None
        self.model_id: int | None = None

    def ensure(self) -> None:  # inside store.write()
        if self.class_ids is None:
            self.class_ids = self.store.ensure_classes(self.names)
            if self.prelabels:
                self.model_id = self.store.add_model(name=self.model_name, arch="external",
                                                     status="external")

    def boxes(self, labels: ImageLabels) -> list[LabeledBox]:
        return [LabeledBox(self.class_ids[name], box) for name, box in labels.boxes]

    def predictions(self, item_id: int, boxes: list[tuple[str, Box, float]]) -> list[tuple]:
        return [(item_id, self.class_ids[name], box, score) for name, box, score in boxes]


def write_import(store: Store, new: list, labels: dict[tuple, ImageLabels],
                 prelabels: dict[tuple, list], class_names: list[str], report: ImportReport,
                 *, root: str, author: str | None, replace_labels: bool, model_name: str,
                 created: list[Path] | None, chunk: int) -> None:
    """Write the import: first the labels of items already in the project (targets
    ``('item', id)``), then the new files (``('new', rel)``). See the module."""
    project = _Project(store, class_names, model_name, bool(prelabels))
    existing = [t for t in labels if t[0] == "item"] + [
        t for t in prelabels if t[0] == "item" and t not in labels]
    if existing:
        _update_existing(store, project, existing, labels, prelabels, report,
                         author=author, replace_labels=replace_labels)
    _write_new(store, project, new, labels, prelabels, report, root=root, author=author,
               created=created, chunk=chunk)


def _update_existing(store: Store, project: _Project, targets: list[tuple],
                     labels: dict[tuple, ImageLabels], prelabels: dict[tuple, list],
                     report: ImportReport, *, author: str | None, replace_labels: bool
                     ) -> None:
    """One transaction: an unlabeled item gets the file's labels; a labeled one keeps
    its labels unless ``replace_labels`` (then its history keeps the old ones)."""
    updated = unchanged = kept = test = boxes_in = 0
    rows: list[tuple] = []
    with store.write():
        project.ensure()
        ids = [t[1] for t in targets]
        items = {i.id: i for i in store.items(ids=ids)}
        current = store.annotations(ids)
        for target in targets:
            item, outcome = items[target[1]], labels.get(target)
            rows += project.predictions(item.id, prelabels.get(target, []))
            if outcome is None or outcome.boxes is None:  # reported when decided
                unchanged += target in labels
                continue
            boxes = project.boxes(outcome)
            name = f"{item.file} (item #{item.id})"
            if item.status == "labeled" and _same(current[item.id], boxes):
                unchanged += 1
                continue
            if item.status == "labeled" and not replace_labels:
                unchanged, kept = unchanged + 1, kept + 1
                report.note(f"{name}: keeps its {_boxes(len(current[item.id]))}; the file "
                            f"gives it {len(boxes)} other "
                            f"{'one' if len(boxes) == 1 else 'ones'} (replacing labels "
                            "takes them)")
                continue
            holder = store.holder(item.id)
            if holder is not None:
                unchanged += 1
                why = f"{holder} has it open in the review page; import again when done"
                if item.status == "labeled":
                    report.problem(f"{name}: its labels are unchanged, {why}")
                else:
                    report.leave_unlabeled(name, HELD, why)
                continue
            store.set_labels(item.id, boxes, source="import", author=author,
                             reason="updated from COCO" if item.status == "labeled"
                             else "imported from COCO")
            store.approve_written(item.id, author)  # team mode: a lead's labels
            test += item.split == "test"
            updated, boxes_in = updated + 1, boxes_in + len(boxes)
            report.note(f"{name}: " + (f"its {_boxes(len(current[item.id]))} replaced by "
                                       f"the file's {len(boxes)}" if item.status == "labeled"
                                       else f"labeled with {_boxes(len(boxes))}"))
        if rows:
            store.add_predictions(project.model_id, rows)
    report.items_updated += updated  # counted once committed
    report.boxes_imported += boxes_in
    report.items_unchanged += unchanged
    report.labels_kept += kept
    report.predictions_imported += len(rows)
    if test:
        report.note(f"{test} of the updated images are in the test split: models are "
                    "evaluated on their new labels from now on")


def _boxes(n: int) -> str:
    return plural(n, "box", "boxes")


def _same(current: list, boxes: list[LabeledBox]) -> bool:
    def key(class_id, box):
        return (class_id, *(round(v, 4) for v in box.as_list()))
    return sorted(key(a.class_id, a.box) for a in current) == \
        sorted(key(b.class_id, b.box) for b in boxes)


def _write_new(store: Store, project: _Project, new: list, labels: dict[tuple, ImageLabels],
               prelabels: dict[tuple, list], report: ImportReport, *, root: str,
               author: str | None, created: list[Path] | None, chunk: int) -> None:
    """The new items, their labels and pre-labels, ``chunk`` images per transaction (a
    20,000-image import held the database for seconds and a running training's writes
    failed): each image goes in whole with its labels, or not at all. With ``created``
    (files copied in), each chunk's files are checked first."""
    for start in range(0, max(len(new), 1), chunk):
        part = new[start:start + chunk]
        labeled, boxes_in, rows = 0, 0, []
        with store.write():
            project.ensure()
            if created is not None:
                image_files.verify(store.images_dir, ((f.file, f.sha256) for f in part),
                                   created)
            for f in part:
                item_id = store.add_item(file=f.file, width=f.width, height=f.height,
                                         sha256=f.sha256, source="import", root=root)
                outcome = labels.get(("new", f.rel))
                rows += project.predictions(item_id, prelabels.get(("new", f.rel), []))
                if outcome is None or outcome.boxes is None:
                    continue
                boxes = project.boxes(outcome)
                store.set_labels(item_id, boxes, source="import", author=author,
                                 reason="imported from COCO")
                labeled, boxes_in = labeled + 1, boxes_in + len(boxes)
            if rows:
                store.add_predictions(project.model_id, rows)
        report.images_imported += len(part)  # counted once committed
        report.items_labeled += labeled
        report.boxes_imported += boxes_in
        report.predictions_imported += len(rows)
