"""A COCO instances file read as the tools that write it mean it, and the rule every
import keeps: an image is labeled with *every* one of its annotations, or not at all.

Ids are read as pycocotools reads them, whatever their type: numbers, strings holding
numbers, other strings, ids from 0 (an id is compared by its text, so ``1`` and ``"1"``
are one id). Annotation ids are never needed: each annotation record is one box, also
when two share an id. Categories may come in any order and with gaps; a category that is
only the supercategory of others and owns no annotation (Roboflow writes the dataset's
name so, ``{"id": 0, "name": "fish", "supercategory": "none"}``) is left out and
reported, so it never becomes a class. Category names are class names under the one
naming rule (:mod:`al_core.names`): ``traffic  light`` is stored as ``traffic light``, a
name with a line break or escape code (or over 100 characters) is refused with a problem
naming the category, and its annotations are not imported; two categories whose names
are one once normalised are merged into one class, as two of one name are, and reported.
bbox values may be numbers or numeric strings.

:func:`label_image` decides each image: its boxes when every annotation of it can be
read, else None and why. Crowd regions (``iscrowd: 1``; CVAT writes its masks so, with
an exact bbox) are objects the project cannot hold as such (it has no ignore regions),
so an image with one stays unlabeled unless the import takes crowd boxes as ordinary
objects (``crowd_as_boxes``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from al_core.formats.import_report import (BAD_ANNOTATION, CROWD, NO_ANNOTATIONS, OTHER_SIZE,
                                           SHARED_ID, ImportFailed, ImportReport, plural)
from al_core.formats.json_input import JsonInputError, read_json_file
from al_core.names import normalize_name
from al_core.types import Box


def read_json(path, what: str, *, expect: type | None = None):
    """The JSON file at ``path`` through the one bounded reader
    (:func:`al_core.formats.json_input.read_json_file`; ``what`` names it in messages). Raises
    ImportFailed when it cannot be read, is too large or too deeply nested, is not valid
    JSON, or is not ``expect`` (``dict`` or ``list``)."""
    try:
        return read_json_file(path, what, expect=expect)
    except JsonInputError as exc:
        raise ImportFailed(str(exc)) from None


def check_coco_instances(data, path) -> None:
    if not isinstance(data, dict):
        raise ImportFailed(f"COCO file {path}: expected a JSON object with 'images', "
                           f"'annotations' and 'categories', got {type(data).__name__}")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise ImportFailed(f"COCO file {path}: '{key}' is missing or not a list")
    if not isinstance(data.get("annotations", []), list):
        raise ImportFailed(f"COCO file {path}: 'annotations' is not a list")


def coco_id(value) -> str | None:
    """An image or category id as a key: its text (``1``, ``1.0`` and ``"1"`` are one id),
    or None when it is no id (a list, an object, null, true/false, NaN)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return value if isinstance(value, str) else None


def shown(value, limit: int = 40) -> str:
    """A value of the file as a message quotes it."""
    return (repr(value) if isinstance(value, str) else json.dumps(value, default=str))[:limit]


def number(value) -> float | None:
    """A JSON number or a string holding one, as a float; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class CocoImage:
    key: str  # the id as a key (see coco_id)
    id: object  # as written
    file_name: str
    width: float | None  # as the file says, when it says
    height: float | None

    def __str__(self) -> str:
        return f"COCO image {shown(self.id)} '{self.file_name}'"


@dataclass(frozen=True)
class CocoLabels:
    """A checked COCO instances file: its images, usable categories and annotations."""

    images: list[CocoImage]
    shared_ids: frozenset[str]  # image ids that two or more images have
    classes: dict[str, str | None]  # category key -> class name (None: id names two)
    class_names: list[str]  # the classes to create, in category-id order
    annotations: dict[str, list[tuple[int, dict]]] | None  # None: no 'annotations' key


def read_coco(data: dict, report: ImportReport) -> CocoLabels:
    """Check ``data`` (already known to be a dict with lists, see
    :func:`check_coco_instances`) record by record; report the records that cannot be
    used and the annotations that belong to no image of the file."""
    images, keys, skipped = [], {}, set()
    for entry in data["images"]:
        key = coco_id(entry.get("id")) if isinstance(entry, dict) else None
        name = entry.get("file_name") if isinstance(entry, dict) else None
        if key is None or not isinstance(name, str) or not name:
            report.problem(f"COCO image {shown(entry, 80)}: skipped, needs an 'id' and a "
                           "'file_name'")
            skipped.add(key)  # its annotations are not another image's of that id
            continue
        keys[key] = keys.get(key, 0) + 1
        images.append(CocoImage(key, entry["id"], name, _size(entry.get("width")),
                                _size(entry.get("height"))))
    shared = frozenset(k for k, n in keys.items() if n > 1 or k in skipped)
    annotations: dict[str, list[tuple[int, dict]]] | None = None
    if "annotations" in data:
        annotations = {key: [] for key in keys}
        for n, a in enumerate(data["annotations"]):
            key = coco_id(a.get("image_id")) if isinstance(a, dict) else None
            if key in annotations:
                annotations[key].append((n, a))
            else:
                report.boxes_rejected += 1
                report.problem(f"{_where(n, a)}: rejected, " + (
                    f"image_id {shown(a.get('image_id'))} is not an image of the COCO file"
                    if isinstance(a, dict) else "not a JSON object"))
        report.boxes_rejected += sum(len(annotations[k]) for k in shared)
    classes, names = _categories(data["categories"], annotations, report)
    return CocoLabels(images, shared, classes, names, annotations)


def _size(value) -> float | None:
    """A width or height as the file says it; None where it says nothing usable (some
    converters write 0 or null for "unknown")."""
    v = number(value)
    return v if v is not None and math.isfinite(v) and v > 0 else None


def _where(n: int, a) -> str:
    return f"annotation #{n}" + (f" (id {shown(a['id'])})" if isinstance(a, dict)
                                 and "id" in a else "")


def _categories(categories: list, annotations: dict | None, report: ImportReport
                ) -> tuple[dict[str, str | None], list[str]]:
    """Category key -> class name (:func:`~al_core.names.normalize_name`: ``traffic  light``
    is ``traffic light``; None where the name breaks the rule or the id names two
    categories, whose annotations are then not imported), and the class names in
    category-id order; categories whose names are one once normalised are merged."""
    found: dict[str, tuple[str, object]] = {}  # key -> (name, supercategory)
    out: dict[str, str | None] = {}
    spelled: dict[str, str] = {}  # key -> the name as the file writes it
    for c in categories:
        key = coco_id(c.get("id")) if isinstance(c, dict) else None
        raw = c.get("name") if isinstance(c, dict) else None
        name, why = _class_name(raw)
        if key is None or not isinstance(raw, str) or not raw.strip():
            report.problem(f"COCO category {shown(c, 80)}: skipped, needs an 'id' and a "
                           "non-empty 'name'")
        elif name is None:
            if key not in found:
                report.problem(f"COCO category {key}: {why}; its annotations are not imported")
                out[key] = None
        elif key in found and found[key][0] != name:
            report.problem(f"COCO category id {shown(c['id'])} names two categories "
                           f"('{found[key][0]}', '{name}'): its annotations are not "
                           "imported")
            out[key] = None
        elif key not in found and key not in out:  # (in out: refused above)
            found[key] = (name, c.get("supercategory"))
            out[key], spelled[key] = name, raw
    used = {coco_id(a.get("category_id")) for anns in (annotations or {}).values()
            for _, a in anns}
    for key, (name, _) in found.items():
        children = sorted(n for k, (n, sup) in found.items() if k != key
                          and isinstance(sup, str) and _class_name(sup)[0] == name)
        if children and key not in used and out[key] is not None:
            report.note(f"COCO category {key} '{name}': left out, it is only the "
                        f"supercategory of {', '.join(map(repr, children[:5]))}"
                        f"{' ...' if len(children) > 5 else ''} and no annotation has it")
            del out[key]
    return out, _merged_names(out, spelled, report)


def _class_name(raw) -> tuple[str | None, str]:
    """A category's name as the project stores it, or None and why it is refused."""
    try:
        return normalize_name(raw, kind="class"), ""
    except ValueError as exc:
        return None, str(exc)


def _merged_names(out: dict[str, str | None], spelled: dict[str, str],
                  report: ImportReport) -> list[str]:
    """The class names in category-id order, each once: categories with one name (as
    written, or once normalised) are merged, and reported naming both."""
    names: list[str] = []
    by_name: dict[str, str] = {}
    for key in sorted(out, key=lambda k: (0, int(k), "") if k.lstrip("-").isdigit()
                      else (1, 0, k)):
        name = out[key]
        if name is None:
            continue
        if name in by_name:
            first = by_name[name]
            how = ("are both named" if spelled[first] == spelled[key] else
                   f"('{spelled[first]}', '{spelled[key]}') are one name by the naming rule "
                   "(spaces trimmed and made one, Unicode NFC):")
            report.problem(f"COCO categories {first} and {key} {how} '{name}'; their boxes "
                           "are merged into one class")
        else:
            by_name[name] = key
            names.append(name)
    return names


def parse_bbox(bbox, width: int, height: int, where: str, report: ImportReport) -> Box | None:
    """COCO ``[x, y, w, h]`` (numbers or numeric strings) -> a clipped xyxy Box; None
    (reported) when unusable."""
    values = [number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else []
    if len(values) != 4 or None in values:
        report.problem(f"{where}: rejected, bbox {shown(bbox, 60)} is not four numbers")
        return None
    x, y, w, h = values
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


def is_crowd(annotation: dict) -> bool:
    return annotation.get("iscrowd") in (1, True, "1")


@dataclass(frozen=True)
class ImageLabels:
    """What an import does with one image: label it with ``boxes`` (class name, box),
    or, when ``boxes`` is None, leave it unlabeled for ``reason`` (see import_report)."""

    boxes: list[tuple[str, Box]] | None
    reason: str | None = None
    detail: str = ""


def size_swapped(image: CocoImage, width: int, height: int) -> bool:
    """Whether the COCO file records ``image`` as ``height`` x ``width`` (not square)."""
    return (image.width, image.height) == (height, width) != (width, height)


def label_image(coco: CocoLabels, image: CocoImage, width: int, height: int,
                report: ImportReport, *, crowd_as_boxes: bool = False,
                exif_turned: bool = False) -> ImageLabels:
    """The invariant, in one place: every annotation of ``image`` as a box in a
    ``width`` x ``height`` image, or none and why (each unusable annotation is reported).
    ``exif_turned``: the file's EXIF orientation turns it a quarter (a COCO size that is
    the file's swapped is then blamed on it, and only then)."""
    if image.key in coco.shared_ids:
        n = len(coco.annotations.get(image.key, [])) if coco.annotations else 0
        return ImageLabels(None, SHARED_ID, f"its id {shown(image.id)} is also another "
                           f"image's: the {n} annotations of that id attach to neither")
    if coco.annotations is None:
        return ImageLabels(None, NO_ANNOTATIONS, "the file has no 'annotations' list")
    if image.width is not None and image.height is not None \
            and (image.width, image.height) != (width, height):
        report.boxes_rejected += len(coco.annotations[image.key])
        said = (f"the COCO file says {image.width:g}x{image.height:g}, the image is "
                f"{width}x{height}")
        if not size_swapped(image, width, height):
            said += ": its boxes were drawn on a picture of another size"
        elif exif_turned:
            said += (": it is turned by its EXIF orientation, which the labeling tool "
                     "probably ignored: its boxes are for the unturned picture")
        else:
            said += (": its recorded width and height are swapped (the file has no EXIF "
                     "orientation that turns it), so its boxes may be for a turned picture")
        return ImageLabels(None, OTHER_SIZE, said)
    boxes, bad, crowds, clipped = [], 0, 0, report.boxes_clipped
    for n, a in coco.annotations[image.key]:
        where = f"{_where(n, a)} of {image}"
        cat = coco_id(a.get("category_id"))
        if coco.classes.get(cat) is None:
            report.problem(f"{where}: rejected, category_id {shown(a.get('category_id'))} "
                           "is not a known category")
        elif is_crowd(a) and not crowd_as_boxes:
            crowds += 1
            report.problem(f"{where}: not imported, a crowd region (iscrowd 1)")
        elif (box := parse_bbox(a.get("bbox"), width, height, where, report)) is not None:
            boxes.append((coco.classes[cat], box))
            continue
        bad += 1
    if bad:  # none of its boxes is imported
        report.boxes_rejected += len(boxes) + bad
        report.boxes_clipped = clipped
        of_its = f"of its {plural(len(boxes) + bad, 'annotation')}"
        why = (f"{crowds} {of_its} {'is a crowd region' if crowds == 1 else 'are crowd regions'}"
               if crowds == bad else f"{bad} {of_its} could not be imported")
        return ImageLabels(None, CROWD if crowds == bad else BAD_ANNOTATION, why)
    crowd_boxes = sum(is_crowd(a) for _, a in coco.annotations[image.key])
    return ImageLabels(boxes, detail=f"{plural(crowd_boxes, 'crowd region')} taken as "
                       "ordinary boxes" if crowd_boxes else "")


def prediction_boxes(results: list, images: dict[str, tuple[int, int]], coco: CocoLabels,
                     report: ImportReport) -> dict[str, list[tuple[str, Box, float]]]:
    """COCO results (pre-labels, not ground truth: each usable record is kept) per image
    key of ``images`` (key -> width, height)."""
    out: dict[str, list[tuple[str, Box, float]]] = {k: [] for k in images}
    for n, r in enumerate(results):
        where = f"prediction #{n}"
        key = coco_id(r.get("image_id")) if isinstance(r, dict) else None
        cat = coco_id(r.get("category_id")) if isinstance(r, dict) else None
        score = number(r.get("score")) if isinstance(r, dict) else None
        if not isinstance(r, dict):
            report.problem(f"{where}: rejected, not a JSON object")
        elif key not in images:
            report.problem(f"{where}: rejected, image_id {shown(r.get('image_id'))} is not "
                           "an imported image")
        elif coco.classes.get(cat) is None:
            report.problem(f"{where}: rejected, category_id {shown(r.get('category_id'))} "
                           "is not a known category")
        elif score is None or not math.isfinite(score):
            report.problem(f"{where}: rejected, score {shown(r.get('score'))} is not a "
                           "finite number")
        elif (box := parse_bbox(r.get("bbox"), *images[key], where, report)) is not None:
            out[key].append((coco.classes[cat], box, score))
    return out
