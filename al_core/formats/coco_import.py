"""Import a folder of images with optional COCO instances labels and COCO results
pre-labels (export lives in :mod:`al_core.formats.export`).

Import validates everything before writing anything: bad files and bad records are
reported (:class:`ImportReport`) and skipped. An image the COCO file lists is labeled
with every one of its annotations or left unlabeled, named in the report with the reason
(:func:`al_core.formats.coco_file.label_image`); COCO file names are matched to the folder's
files as exporters write them (:mod:`al_core.formats.coco_names`).

Images already in the project (recognised by content; a ``--reference`` folder's file
also by its path when its content changed but not its size) are not added again: the
file labels those that are unlabeled, and with ``replace_labels`` replaces the labels of
labeled ones (their history keeps the old), all in one transaction, before the new
images. New images are written a chunk of ``IMPORT_CHUNK`` at a time, each whole with its
labels (:mod:`al_core.formats.image_files` keeps the copied files safe beside other writers).
Labeling a selection's images from a corrected COCO file is :mod:`al_core.review.external`.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from al_core.formats import image_files
from al_core.formats.coco_file import (CocoLabels, ImageLabels, check_coco_instances, label_image,
                                       prediction_boxes, read_coco, read_json)
from al_core.formats.coco_names import NameIndex, safe_relative
from al_core.formats.image_folder import check_importable, image_paths, probe_in_folder
from al_core.formats.images import DEFAULT_MAX_PIXELS, ImageError
from al_core.formats.import_report import LISTED_TWICE, ImportFailed, ImportReport, plural
from al_core.formats.import_write import Progress, write_import
from al_core.names import name_or_none, normalize_name, printable
from al_core.store import Store

__all__ = ["IMPORT_CHUNK", "ImportFailed", "ImportReport", "ImportSource", "import_folder",
           "import_source", "read_import_source", "read_json", "safe_relative", "scan_folder"]

IMPORT_CHUNK = 500  # new images per transaction: a running job's writes never wait long


@dataclass(frozen=True)
class _Found:
    path: Path
    rel: str  # relative to the imported folder: what COCO file names refer to
    width: int
    height: int
    sha256: str
    dest: str = ""  # the item's file name in the project, when it differs from rel
    exif_turned: bool = False  # its EXIF orientation turns it a quarter

    @property
    def file(self) -> str:
        return self.dest or self.rel


@dataclass(frozen=True)
class ImportSource:
    """The validated inputs of an import, read before anything is written."""

    folder: Path
    coco: dict | None = None
    coco_name: str | None = None
    results: list | None = None
    results_name: str | None = None


def scan_folder(folder: Path, report: ImportReport, *, max_pixels: int,
                progress: Progress | None = None) -> list[_Found]:
    """Every readable image under ``folder`` (recursive, symlinks must stay inside)."""
    root = folder.resolve()
    paths = image_paths(folder)
    report.images_found = len(paths)
    found: list[_Found] = []
    for n, path in enumerate(paths):
        rel = path.relative_to(folder).as_posix()
        try:
            info = probe_in_folder(path, root, max_pixels=max_pixels)
            found.append(_Found(path, rel, info.width, info.height, info.sha256,
                                exif_turned=info.exif_turned))
        except ImageError as exc:
            report.problem(f"{rel}: skipped, {exc.reason}")
        if progress and (n % 100 == 0 or n == len(paths) - 1):
            progress(n + 1, len(paths), "reading images")
    return found


@dataclass
class _Plan:
    """Where each found file goes: a new item (``new``, deduplicated and named), an item
    already in the project (``existing``: rel -> item id), or the kept copy of the same
    content (``same_as``: rel -> rel of the kept file)."""

    new: list[_Found]
    existing: dict[str, int]
    same_as: dict[str, str]

    def __post_init__(self) -> None:
        self._new_rels = {f.rel for f in self.new}

    def add_new(self, f: _Found) -> None:
        self.new.append(f)
        self._new_rels.add(f.rel)

    def target(self, rel: str) -> tuple[str, str | int] | None:
        """('new', rel) or ('item', item id): where the file's labels go; None if nowhere."""
        rel = self.same_as.get(rel, rel)
        if rel in self.existing:
            return ("item", self.existing[rel])
        return ("new", rel) if rel in self._new_rels else None


def _dedupe(found: list[_Found], store: Store, root: str, report: ImportReport, *,
            listed: set[str]) -> _Plan:
    """Sort files into new and already in the project (by content; a referenced file
    also by path, see the module). Of two identical files the one the COCO file lists is
    kept. A different image whose name is taken in the project's images folder is
    stored under a new name; names one in letter case or Unicode form are one name
    there (:func:`image_files.same_file_key`: one file on Windows and macOS). A
    referenced folder keeps its files' names."""
    by_file, by_hash = store.item_ids_by_file(root), store.item_ids_by_sha256()
    same_root = {i.file: i for i in store.items() if i.root == root} if root else {}
    seen: dict[str, str] = {}
    names = {image_files.same_file_key(n) for n in by_file}
    plan = _Plan([], {}, {})
    for f in sorted(found, key=lambda f: (f.rel not in listed, f.rel)):
        if f.sha256 in by_hash:
            plan.existing[f.rel] = by_hash[f.sha256]
            if f.rel not in listed:
                report.problem(f"{f.rel}: skipped, same content as project item "
                               f"#{by_hash[f.sha256]} (already in the project; its labels "
                               "are unchanged)")
        elif f.sha256 in seen:
            plan.same_as[f.rel] = seen[f.sha256]
            report.problem(f"{f.rel}: skipped, same content as {seen[f.sha256]}")
        elif f.rel in by_file and root:
            item = same_root[f.rel]
            if (item.width, item.height) == (f.width, f.height):
                plan.existing[f.rel] = item.id
                report.note(f"{f.rel}: its content changed on disk since it was imported "
                            f"as item #{item.id} (same size); matched to it by its path")
            else:
                report.problem(f"{f.rel}: skipped, it changed on disk since it was imported "
                               f"(was {item.width}x{item.height}, {item.sha256[:12]})")
        else:
            if not root and (image_files.same_file_key(f.rel) in names or
                             image_files.stray_file(store.images_dir / f.rel, f.sha256)):
                dest = _free_name(f.rel, names)
                report.problem(f"{f.rel}: stored as {dest}, a different image of that name is "
                               "already in the project")
                f = replace(f, dest=dest)
            names.add(image_files.same_file_key(f.file))
            seen[f.sha256] = f.rel
            plan.add_new(f)
    plan.new.sort(key=lambda f: f.rel)
    return plan


def _free_name(rel: str, taken: set[str]) -> str:
    """``rel`` as ``STEM~N.EXT``, the first N from 2 whose :func:`same_file_key` is not
    in ``taken``."""
    p = PurePosixPath(rel)
    n = 2
    while image_files.same_file_key(
            candidate := str(p.with_name(f"{p.stem}~{n}{p.suffix}"))) in taken:
        n += 1
    return candidate


def _match_files(coco: CocoLabels, found: list[_Found], report: ImportReport
                 ) -> list[_Found | None]:
    """The found file of each COCO image (by index), matched by name (see coco_names)."""
    index = NameIndex(f.rel for f in found)
    by_rel = {f.rel: f for f in found}
    out: list[_Found | None] = []
    for image in coco.images:
        m = index.match(image.file_name)
        f = by_rel.get(m.path) if m.path else None
        out.append(f)
        n = len(coco.annotations.get(image.key, [])) if coco.annotations else 0
        lost = f"; its {plural(n, 'annotation')} not imported" if n else ""
        if m.candidates:
            report.images_unmatched += 1
            report.problem(f"{image}: matched neither of {', '.join(m.candidates[:5])} "
                           f"(two files fit its name){lost}")
        elif f is None:
            report.images_unmatched += 1
            report.problem(f"{image}: no readable image in the folder has this name (or it "
                           f"was skipped above){lost}")
        elif (how := m.how()) is not None:
            report.note(f"{image}: matched to {f.rel} {how}")
    return out


def _label_targets(coco: CocoLabels, files: list[_Found | None], plan: _Plan, store: Store,
                   report: ImportReport, *, crowd_as_boxes: bool) -> dict[tuple, ImageLabels]:
    """Target (('new', rel) or ('item', id)) -> what the import does with its labels."""
    claims: dict[tuple, list[int]] = {}
    for n, f in enumerate(files):
        target = plan.target(f.rel) if f is not None else None
        if target is not None:
            claims.setdefault(target, []).append(n)
        elif coco.annotations and coco.images[n].key not in coco.shared_ids:
            report.boxes_rejected += len(coco.annotations[coco.images[n].key])
    items = {i.id: i for i in store.items(ids=[t[1] for t in claims if t[0] == "item"])}
    new = {f.rel: f for f in plan.new}
    out: dict[tuple, ImageLabels] = {}
    for target, indices in claims.items():
        if target[0] == "item":
            item = items[target[1]]
            name, size = f"{item.file} (item #{item.id})", (item.width, item.height)
        else:
            f = new[target[1]]
            name, size = f.file, (f.width, f.height)
        if len(indices) > 1:
            listed = ", ".join(str(coco.images[n]) for n in indices[:4])
            keys = {coco.images[n].key for n in indices}
            total = sum(len(coco.annotations[k]) for k in keys) if coco.annotations else 0
            report.boxes_rejected += sum(len(coco.annotations[k]) for k in keys
                                         - coco.shared_ids) if coco.annotations else 0
            outcome = ImageLabels(None, LISTED_TWICE, f"the file lists it {len(indices)} times "
                                  f"({listed}): their {total} annotations attach to none")
        else:
            outcome = label_image(coco, coco.images[indices[0]], *size, report,
                                  crowd_as_boxes=crowd_as_boxes,
                                  exif_turned=files[indices[0]].exif_turned)
            if outcome.detail and outcome.boxes is not None:
                report.note(f"{name}: {outcome.detail}")
        labeled = target[0] == "item" and items[target[1]].status == "labeled"
        if outcome.boxes is None and labeled:
            report.problem(f"{name}: its labels are unchanged, {outcome.detail}")
        elif outcome.boxes is None:
            report.leave_unlabeled(name, outcome.reason, outcome.detail)
        out[target] = outcome
    return out


def read_import_source(images: str | Path, *, coco: str | Path | None = None,
                       predictions: str | Path | None = None,
                       max_pixels: int = DEFAULT_MAX_PIXELS) -> ImportSource:
    """Check the folder and parse the JSON files; writes nothing. Raises ImportFailed
    for a folder that is missing, or holds no image this can read (saying what it holds:
    :func:`al_core.formats.image_folder.check_importable`), and for unusable JSON files."""
    folder = Path(images)
    if not folder.is_dir():
        raise ImportFailed(f"images folder {folder} does not exist or is not a folder")
    check_importable(folder, max_pixels=max_pixels)
    if predictions is not None and coco is None:
        raise ImportFailed("--predictions needs --coco: result image and category ids refer "
                           "to the COCO instances file")
    coco_data = read_json(coco, "COCO file") if coco else None
    if coco_data is not None:
        check_coco_instances(coco_data, coco)
    results = read_json(predictions, "predictions file") if predictions else None
    if results is not None and not isinstance(results, list):
        raise ImportFailed(f"predictions file {predictions}: expected a COCO results list of "
                           "{image_id, category_id, bbox, score}")
    return ImportSource(folder, coco_data, Path(coco).name if coco else None, results,
                        Path(predictions).stem if predictions else None)


def import_folder(store: Store, images: str | Path, *, coco: str | Path | None = None,
                  predictions: str | Path | None = None, **options) -> ImportReport:
    """Import every image under ``images``; label the ones ``coco`` lists (an image listed
    with no annotations is labeled as empty); store ``predictions`` (a COCO results list)
    as pre-labels of an external model. See :func:`import_source` for the options."""
    source = read_import_source(images, coco=coco, predictions=predictions,
                                max_pixels=options.get("max_pixels", DEFAULT_MAX_PIXELS))
    return import_source(store, source, **options)


def prelabel_model_name(given: str | None, results_name: str | None) -> str:
    """The name the pre-labels' model is stored under: ``given`` as
    :func:`~al_core.names.normalize_name` makes it (ValueError naming it when it breaks
    the rule), else the results file's name where it keeps the rule, else ``external``."""
    if given is not None:
        return normalize_name(given, kind="model")
    return (name_or_none(results_name, kind="model") if results_name else None) or "external"


def import_source(store: Store, source: ImportSource, *, model_name: str | None = None,
                  reference: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                  author: str | None = None, replace_labels: bool = False,
                  crowd_as_boxes: bool = False, progress: Progress | None = None
                  ) -> ImportReport:
    """Write a checked :class:`ImportSource` into the project. ``reference`` leaves the
    files in place instead of copying them; ``model_name`` names the predictions' model;
    ``replace_labels`` lets the file replace the labels of images already labeled in the
    project; ``crowd_as_boxes`` imports crowd regions' boxes as ordinary objects (CVAT
    writes its masks as crowd regions) instead of leaving their images unlabeled.
    Raises ValueError naming ``model_name`` when it breaks the naming rule, before
    anything is read or written. Team mode: a lead's work (``import``, checked before
    anything is read); an ``author`` given must be the acting user."""
    store.authorize("import")
    if author is not None and store.team_mode():
        author = store.own_name(author, what="the import's author")
    model_name = prelabel_model_name(model_name, source.results_name)
    report = ImportReport()
    root = str(source.folder.resolve()) if reference else ""
    found = scan_folder(source.folder, report, max_pixels=max_pixels, progress=progress)
    coco = read_coco(source.coco, report) if source.coco is not None else None
    files = _match_files(coco, found, report) if coco is not None else []
    plan = _dedupe(found, store, root, report, listed={f.rel for f in files if f})
    labels, prelabels = {}, {}
    if coco is not None:
        labels = _label_targets(coco, files, plan, store, report, crowd_as_boxes=crowd_as_boxes)
        if source.results is not None:
            prelabels = _prelabels(coco, files, plan, source.results, report)
    author = author or (f"import:{source.coco_name}" if source.coco_name else None)
    try:
        created = [] if reference else image_files.copy_in(
            ((f.path, f.file) for f in plan.new), store.images_dir)
    except OSError as exc:
        raise ImportFailed(f"copying images into the project failed: {exc}; nothing was "
                           "imported") from exc
    try:
        write_import(store, plan.new, labels, prelabels, coco.class_names if coco else [],
                     report, root=root, author=author, replace_labels=replace_labels,
                     model_name=model_name,
                     created=None if reference else created, chunk=IMPORT_CHUNK)
    except BaseException as exc:
        image_files.remove_unbound(store, created)
        done = (f"{report.images_imported} of {len(plan.new)} images were imported, with "
                "their labels, before this; import again to add the rest"
                if report.images_imported else "no new image was imported: import again")
        if report.items_updated:
            done += f" ({report.items_updated} images already in the project were updated)"
        if isinstance(exc, image_files.FileConflict):
            raise ImportFailed(f"{exc}; {done}") from None
        if isinstance(exc, sqlite3.IntegrityError):
            raise ImportFailed(f"another import added some of these images meanwhile "
                               f"({exc}); {done}") from None
        raise
    store.audit("import.folder", object_type="project",
                summary=f"imported {report.images_imported} images from "
                        f"{printable(source.folder.name, 60)}"
                        + (f" with {printable(source.coco_name, 60)}" if source.coco_name
                           else ""),
                after={"images": report.images_imported, "labeled": report.items_labeled,
                       "updated": report.items_updated,
                       "predictions": report.predictions_imported,
                       "reference": reference, "replace_labels": replace_labels})
    return report


def _prelabels(coco: CocoLabels, files: list[_Found | None], plan: _Plan, results: list,
               report: ImportReport) -> dict[tuple, list]:
    """Target -> the COCO results' boxes for it (pre-labels: each usable record is kept)."""
    targets: dict[str, tuple] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for image, f in zip(coco.images, files):
        target = plan.target(f.rel) if f is not None else None
        if target is not None and image.key not in coco.shared_ids:
            targets[image.key], sizes[image.key] = target, (f.width, f.height)
    out: dict[tuple, list] = {}
    for key, boxes in prediction_boxes(results, sizes, coco, report).items():
        out.setdefault(targets[key], []).extend(boxes)
    return out
