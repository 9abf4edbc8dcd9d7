"""Import a folder of images with optional COCO instances labels and COCO results
pre-labels (export lives in :mod:`al_core.export`).

Import validates everything before writing anything: bad files and bad records are
reported (:class:`ImportReport`) and skipped; the good ones are written a chunk of
images at a time, each image whole with its labels (:mod:`al_core.image_files` keeps the
copied files safe beside other writers). Labeling a selection's images from a corrected
COCO file is :mod:`al_core.io_selection`.
"""
from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from al_core import image_files
from al_core.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, ImageError, probe_image
from al_core.store import Store
from al_core.types import Box, LabeledBox

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]


class ImportFailed(ValueError):
    """The import as a whole cannot go ahead (nothing was written)."""


@dataclass
class ImportReport:
    images_found: int = 0
    images_imported: int = 0
    items_labeled: int = 0
    boxes_imported: int = 0
    boxes_clipped: int = 0
    boxes_rejected: int = 0
    predictions_imported: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        log.warning(message)
        self.problems.append(message)

    def summary(self) -> str:
        return (f"{self.images_imported} of {self.images_found} images imported, "
                f"{self.items_labeled} labeled with {self.boxes_imported} boxes "
                f"({self.boxes_clipped} clipped to the image, {self.boxes_rejected} rejected), "
                f"{self.predictions_imported} pre-label boxes, {len(self.problems)} problems")


@dataclass(frozen=True)
class _Found:
    path: Path
    rel: str  # relative to the imported folder: what COCO file names refer to
    width: int
    height: int
    sha256: str
    dest: str = ""  # the item's file name in the project, when it differs from rel

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


def _int_id(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_json(path: str | Path, what: str):
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ImportFailed(f"{what} {path}: cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"{what} {path}: not UTF-8 text ({exc.reason})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"{what} {path}: invalid JSON at line {exc.lineno} column "
                           f"{exc.colno}: {exc.msg}") from exc


def _check_coco_instances(data, path) -> None:
    if not isinstance(data, dict):
        raise ImportFailed(f"COCO file {path}: expected a JSON object with 'images', "
                           f"'annotations' and 'categories', got {type(data).__name__}")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise ImportFailed(f"COCO file {path}: '{key}' is missing or not a list")
    if not isinstance(data.get("annotations", []), list):
        raise ImportFailed(f"COCO file {path}: 'annotations' is not a list")


def safe_relative(name: str) -> str | None:
    """``name`` as a normalised relative POSIX path, or None if it would leave the folder."""
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or (p.parts and p.parts[0].endswith(":")):
        return None
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def scan_folder(folder: Path, report: ImportReport, *, max_pixels: int,
                progress: Progress | None = None) -> list[_Found]:
    """Every readable image under ``folder`` (recursive, symlinks must stay inside)."""
    root = folder.resolve()
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and (p.is_file() or p.is_symlink()))
    report.images_found = len(paths)
    found: list[_Found] = []
    for n, path in enumerate(paths):
        rel = path.relative_to(folder).as_posix()
        if not path.exists():
            report.problem(f"{rel}: skipped, a broken link")
        elif not path.resolve().is_relative_to(root):
            report.problem(f"{rel}: skipped, it links outside the images folder")
        else:
            try:
                info = probe_image(path, max_pixels=max_pixels)
                found.append(_Found(path, rel, info.width, info.height, info.sha256))
            except ImageError as exc:
                report.problem(f"{rel}: skipped, {str(exc).split(': ', 1)[-1]}")
        if progress and (n % 100 == 0 or n == len(paths) - 1):
            progress(n + 1, len(paths), "reading images")
    return found


def _dedupe(found: list[_Found], store: Store, root: str, report: ImportReport, *,
            listed: set[str]) -> list[_Found]:
    """Drop files already in the project and repeated content (of two identical files
    the one the COCO file lists, by path or base name, is kept). A different image whose
    name is taken in the project's images folder is stored under a new name."""
    by_file, by_hash = store.item_ids_by_file(root), store.item_ids_by_sha256()
    hashes = {i.file: i.sha256 for i in store.items()} if root else {}
    listed_base = {PurePosixPath(name).name for name in listed}
    seen: dict[str, str] = {}
    names = set(by_file)
    keep = []
    preferred = sorted(found, key=lambda f: (f.rel not in listed and PurePosixPath(f.rel).name
                                             not in listed_base, f.rel))
    for f in preferred:
        if f.sha256 in by_hash:
            report.problem(f"{f.rel}: skipped, same content as project item #{by_hash[f.sha256]}"
                           " (already in the project; its labels are unchanged)")
        elif f.sha256 in seen:
            report.problem(f"{f.rel}: skipped, same content as {seen[f.sha256]}")
        elif f.rel in by_file and root:
            report.problem(f"{f.rel}: skipped, it changed on disk since it was imported "
                           f"(was {hashes.get(f.rel, '?')[:12]})")
        else:
            if f.rel in names or (not root and image_files.stray_file(
                    store.images_dir / f.rel, f.sha256)):
                dest = _free_name(f.rel, names)
                report.problem(f"{f.rel}: stored as {dest}, a different image of that name is "
                               "already in the project")
                f = _Found(f.path, f.rel, f.width, f.height, f.sha256, dest)
            names.add(f.file)
            seen[f.sha256] = f.rel
            keep.append(f)
    return sorted(keep, key=lambda f: f.rel)


def _free_name(rel: str, taken: set[str]) -> str:
    p = PurePosixPath(rel)
    n = 2
    while (candidate := str(p.with_name(f"{p.stem}~{n}{p.suffix}"))) in taken:
        n += 1
    return candidate


def _match_images(coco_images: list, found: list[_Found], report: ImportReport
                  ) -> dict[int, _Found]:
    """COCO image id -> found file, by relative path, else by a unique base name."""
    by_rel = {f.rel: f for f in found}
    by_base: dict[str, list[_Found]] = {}
    for f in found:
        by_base.setdefault(PurePosixPath(f.rel).name, []).append(f)
    matched: dict[int, _Found] = {}
    used: dict[str, int] = {}
    for entry in coco_images:
        image_id = entry.get("id") if isinstance(entry, dict) else None
        name = entry.get("file_name") if isinstance(entry, dict) else None
        if _int_id(image_id) is None or not isinstance(name, str):
            report.problem(f"COCO image {str(entry)[:80]}: skipped, needs an integer 'id' and "
                           "a 'file_name'")
            continue
        rel = safe_relative(name)
        if rel is None:
            report.problem(f"COCO image {image_id} '{name}': rejected, the path escapes the "
                           "images folder")
            continue
        if image_id in matched:
            report.problem(f"COCO image id {image_id} is used twice; '{name}' skipped")
            continue
        f = by_rel.get(rel)
        if f is None:
            candidates = by_base.get(PurePosixPath(rel).name, [])
            if len(candidates) > 1:
                report.problem(f"COCO image {image_id} '{name}': ambiguous, matches "
                               f"{', '.join(c.rel for c in candidates)}")
                continue
            f = candidates[0] if candidates else None
        if f is None:
            report.problem(f"COCO image {image_id} '{name}': no such readable image in the "
                           "folder (or it was skipped above)")
            continue
        if f.rel in used:
            report.problem(f"COCO image {image_id} '{name}': duplicate file name, already "
                           f"listed as image {used[f.rel]}; skipped")
            continue
        w, h = entry.get("width"), entry.get("height")
        if (w, h) != (f.width, f.height) and w is not None:
            report.problem(f"COCO image {image_id} '{name}': COCO says {w}x{h}, the file is "
                           f"{f.width}x{f.height}; boxes are clipped to the file")
        used[f.rel] = image_id
        matched[image_id] = f
    return matched


def _categories(coco_categories: list, report: ImportReport) -> dict[int, str]:
    out: dict[int, str] = {}
    for c in coco_categories:
        cid = c.get("id") if isinstance(c, dict) else None
        name = c.get("name") if isinstance(c, dict) else None
        if _int_id(cid) is None or not isinstance(name, str) or not name.strip():
            report.problem(f"COCO category {str(c)[:80]}: skipped, needs an integer 'id' and "
                           "a non-empty 'name'")
        elif cid in out:
            report.problem(f"COCO category id {cid} is used twice ('{out[cid]}', '{name}'); "
                           f"the first is kept")
        else:
            same = [k for k, v in out.items() if v == name.strip()]
            if same:
                report.problem(f"COCO categories {same[0]} and {cid} are both named "
                               f"'{name.strip()}'; their boxes are merged into one class")
            out[cid] = name.strip()
    return out


def parse_bbox(bbox, width: int, height: int, where: str, report: ImportReport) -> Box | None:
    """COCO ``[x, y, w, h]`` -> a clipped xyxy Box; None (reported) when unusable."""
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
        report.problem(f"{where}: rejected, bbox {str(bbox)[:60]} is not four numbers")
        return None
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        report.problem(f"{where}: rejected, bbox {bbox} has a NaN or infinite value")
        return None
    if w <= 0 or h <= 0:
        report.problem(f"{where}: rejected, bbox {bbox} has zero or negative width/height")
        return None
    x1, y1 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x2, y2 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    if x2 <= x1 or y2 <= y1:
        report.problem(f"{where}: rejected, bbox {bbox} lies outside the {width}x{height} image")
        return None
    if (x1, y1, x2, y2) != (x, y, x + w, y + h):
        report.boxes_clipped += 1
        report.problem(f"{where}: bbox {bbox} clipped to the {width}x{height} image")
    return Box(x1, y1, x2, y2)


def _annotation_boxes(annotations: list, images: dict[int, _Found], categories: dict[int, str],
                      report: ImportReport, *, what: str, need_score: bool
                      ) -> dict[int, list[tuple[str, Box, float]]]:
    """COCO image id -> [(category name, box, score)] for the valid records."""
    out: dict[int, list[tuple[str, Box, float]]] = {i: [] for i in images}
    for n, a in enumerate(annotations):
        where = f"{what} #{n}" + (f" (id {a.get('id')})" if isinstance(a, dict) and "id" in a else "")
        if not isinstance(a, dict):
            report.problem(f"{where}: rejected, not a JSON object")
            report.boxes_rejected += 1
            continue
        image_id, cat = _int_id(a.get("image_id")), _int_id(a.get("category_id"))
        score = a.get("score") if need_score else 1.0
        if image_id not in images:
            report.problem(f"{where}: rejected, image_id {str(a.get('image_id'))[:40]} is not an "
                           "imported image")
        elif cat not in categories:
            report.problem(f"{where}: rejected, category_id {str(a.get('category_id'))[:40]} is "
                           "not a known category")
        elif a.get("iscrowd") in (1, True):
            report.problem(f"{where}: skipped, crowd regions are not supported")
        elif isinstance(score, bool) or not isinstance(score, (int, float)) \
                or not math.isfinite(score):
            report.problem(f"{where}: rejected, score {score!r} is not a finite number")
        else:
            f = images[image_id]
            box = parse_bbox(a.get("bbox"), f.width, f.height, where, report)
            if box is not None:
                out[image_id].append((categories[cat], box, float(score)))
                continue
        report.boxes_rejected += 1
    return out


def read_import_source(images: str | Path, *, coco: str | Path | None = None,
                       predictions: str | Path | None = None) -> ImportSource:
    """Check the folder and parse the JSON files; raises ImportFailed, writes nothing."""
    folder = Path(images)
    if not folder.is_dir():
        raise ImportFailed(f"images folder {folder} does not exist or is not a folder")
    if predictions is not None and coco is None:
        raise ImportFailed("--predictions needs --coco: result image and category ids refer "
                           "to the COCO instances file")
    coco_data = read_json(coco, "COCO file") if coco else None
    if coco_data is not None:
        _check_coco_instances(coco_data, coco)
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
    return import_source(store, read_import_source(images, coco=coco, predictions=predictions),
                         **options)


def import_source(store: Store, source: ImportSource, *, model_name: str | None = None,
                  reference: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                  author: str | None = None, progress: Progress | None = None) -> ImportReport:
    """Write a checked :class:`ImportSource` into the project. ``reference`` leaves the
    files in place instead of copying them; ``model_name`` names the predictions' model."""
    report = ImportReport()
    root = str(source.folder.resolve()) if reference else ""
    coco_data = source.coco
    listed = {name for i in coco_data["images"] if isinstance(i, dict)
              and (name := safe_relative(i.get("file_name")))} if coco_data else set()
    found = _dedupe(scan_folder(source.folder, report, max_pixels=max_pixels,
                                progress=progress), store, root, report, listed=listed)
    matched, labels, prelabels, categories = {}, {}, {}, {}
    if coco_data is not None:
        categories = _categories(coco_data["categories"], report)
        matched = _match_images(coco_data["images"], found, report)
        labels = _annotation_boxes(coco_data.get("annotations", []), matched, categories,
                                   report, what="annotation", need_score=False)
        if source.results is not None:
            prelabels = _annotation_boxes(source.results, matched, categories, report,
                                          what="prediction", need_score=True)
    author = author or (f"import:{source.coco_name}" if source.coco_name else None)
    try:
        created = [] if reference else image_files.copy_in(
            ((f.path, f.file) for f in found), store.images_dir)
    except OSError as exc:
        raise ImportFailed(f"copying images into the project failed: {exc}; nothing was "
                           "imported") from exc
    try:
        _write(store, found, root, matched, labels, prelabels, categories, report,
               author=author, model_name=model_name or source.results_name or "external",
               created=None if reference else created)
    except BaseException as exc:
        image_files.remove_unbound(store, created)
        done = (f"{report.images_imported} of {len(found)} images were imported, with their "
                "labels, before this; import again to add the rest" if report.images_imported
                else "nothing was imported: import again")
        if isinstance(exc, image_files.FileConflict):
            raise ImportFailed(f"{exc}; {done}") from None
        if isinstance(exc, sqlite3.IntegrityError):
            raise ImportFailed(f"another import added some of these images meanwhile "
                               f"({exc}); {done}") from None
        raise
    return report


IMPORT_CHUNK = 500  # images per transaction: a running job's writes never wait long


def _write(store: Store, found, root, matched, labels, prelabels, categories, report, *,
           author, model_name, created: list[Path] | None) -> None:
    """The items, their labels and pre-labels, ``IMPORT_CHUNK`` images per transaction
    (a 20,000-image import held the database for seconds and a running training's
    writes failed): each image goes in whole with its labels, or not at all. With
    ``created`` (files copied in), each chunk's files are checked first."""
    image_of = {f.rel: image_id for image_id, f in matched.items()}
    class_ids, model_id = None, None
    for start in range(0, max(len(found), 1), IMPORT_CHUNK):
        chunk = found[start:start + IMPORT_CHUNK]
        labeled, boxes_in, rows = 0, 0, []
        with store.write():
            if class_ids is None:  # with the first images: a failure there leaves nothing
                class_ids = store.ensure_classes(categories.values())
                model_id = store.add_model(name=model_name, arch="external",
                                           status="external") if prelabels else None
            if created is not None:
                image_files.verify(store.images_dir, ((f.file, f.sha256) for f in chunk),
                                   created)
            for f in chunk:
                item_id = store.add_item(file=f.file, width=f.width, height=f.height,
                                         sha256=f.sha256, source="import", root=root)
                image_id = image_of.get(f.rel)
                if image_id is None:
                    continue
                boxes = [LabeledBox(class_ids[name], box)
                         for name, box, _ in labels.get(image_id, [])]
                store.set_labels(item_id, boxes, source="import", author=author,
                                 reason="imported from COCO")
                labeled, boxes_in = labeled + 1, boxes_in + len(boxes)
                rows += [(item_id, class_ids[name], box, score)
                         for name, box, score in prelabels.get(image_id, [])]
            if rows:
                store.add_predictions(model_id, rows)
        report.images_imported += len(chunk)  # counted once committed
        report.items_labeled += labeled
        report.boxes_imported += boxes_in
        report.predictions_imported += len(rows)
