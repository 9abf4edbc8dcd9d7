"""Export the current labels: COCO instances JSON (what CVAT, Label Studio, FiftyOne
and Roboflow exchange) and a YOLO txt dataset. Files are written atomically."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import yaml

from al_core.formats.coco_names import export_file_names
from al_core.formats.image_files import same_file_key
from al_core.formats.json_input import read_json_file
from al_core.store import Store
from al_core.types import DEFAULT_MIN_SCORE
from al_core.types import SPLITS


def _atomic_write_text(path: Path, text: str) -> None:
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _kept(store: Store, items, without_auto_accepted: bool) -> dict[int, list]:
    """The boxes to export per item: all its labels, or with ``without_auto_accepted``
    those a person decided (auto-accepted boxes of box-level review left out)."""
    anns = store.annotations([i.id for i in items])
    if without_auto_accepted:
        auto = store.auto_accepted_ids([i.id for i in items])
        anns = {i: [a for a in found if a.id not in auto] for i, found in anns.items()}
    return anns


def _labeled_items(store: Store, split: str | None, tag: str | None) -> list:
    if tag is not None and tag not in SPLITS and tag not in store.tags():
        raise ValueError(f"no items carry the tag {tag!r} (tags: "
                         f"{', '.join(store.tags()) or 'none yet'})")
    return store.items(status="labeled", split=split, tag=tag)


def coco_instances(store: Store, *, split: str | None = None, tag: str | None = None,
                   without_auto_accepted: bool = False) -> dict:
    """The labeled items (optionally one split or tag) as a COCO instances dict; image
    ids are item ids, category ids are class ids, file names are the items' relative
    paths, made unique where two folders hold one (:func:`export_file_names`).
    ``without_auto_accepted`` leaves out the boxes box-level review saved without asking
    (the images stay, with the boxes people decided). Team mode asks for a reviewer or
    a lead (``export``); the export is in the audit log."""
    store.authorize("export")
    data = _coco_instances(store, split=split, tag=tag,
                           without_auto_accepted=without_auto_accepted)
    _audit_export(store, "COCO instances", data, {"split": split, "tag": tag,
                                                  "without_auto_accepted":
                                                      without_auto_accepted})
    return data


def _audit_export(store: Store, what: str, data: dict, filters: dict, *,
                  out: Path | None = None) -> None:
    store.audit("export.coco", object_type="project",
                summary=f"exported {what}: {len(data['images'])} images, "
                        f"{len(data['annotations'])} boxes"
                        + (f" to {str(out)[-200:]}" if out is not None else " (download)"),
                after={k: v for k, v in filters.items() if v not in (None, False)} or None)


def _coco_instances(store: Store, *, split: str | None = None, tag: str | None = None,
                    without_auto_accepted: bool = False) -> dict:
    """:func:`coco_instances` without the permission check and the audit row."""
    items = _labeled_items(store, split, tag)
    anns = _kept(store, items, without_auto_accepted)
    names = export_file_names(items, store.images_dir)
    annotations = []
    for item in items:
        for a in anns[item.id]:
            x, y, w, h = a.box.as_xywh()
            annotations.append({"id": len(annotations) + 1, "image_id": item.id,
                                "category_id": a.class_id, "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0})
    return {
        "info": {"description": f"Active Learning Studio export of {store.root.name}"},
        "images": [{"id": i.id, "file_name": names[i.id], "width": i.width,
                    "height": i.height} for i in items],
        "categories": [{"id": c.id, "name": c.name} for c in store.classes()],
        "annotations": annotations,
    }


def coco_results(store: Store, model_id: int, item_ids: list[int]) -> list[dict]:
    """A model's stored detections on these items as a COCO results list
    (``{image_id, category_id, bbox [x, y, w, h] in pixels, score}``, the file
    pycocotools' ``loadRes`` and ``eval-coco --dt`` read); ids as in :func:`coco_instances`."""
    out = []
    for r in store.predictions(model_id, item_ids):
        out.append({"image_id": r["item_id"], "category_id": r["class_id"],
                    "bbox": [r["x1"], r["y1"], r["x2"] - r["x1"], r["y2"] - r["y1"]],
                    "score": r["score"]})
    return out


PRELABEL_MIN_SCORE = DEFAULT_MIN_SCORE  # the review screen's default: one threshold everywhere


def coco_selection(store: Store, tag: str, *, min_score: float = PRELABEL_MIN_SCORE,
                   without_auto_accepted: bool = False) -> dict:
    """A selection's items, in rank order, as COCO instances for an external labeling
    tool (CVAT, Label Studio and FiftyOne read it). An item already labeled carries its
    labels; the others carry the selection model's predictions with score >= ``min_score``
    as pre-labels, each keeping its ``score``. Image ids are item ids; file names as in
    :func:`coco_instances`; ``without_auto_accepted`` as there. Team mode asks for a
    reviewer or a lead (``export``); the export is in the audit log."""
    store.authorize("export")
    data = _coco_selection(store, tag, min_score=min_score,
                           without_auto_accepted=without_auto_accepted)
    _audit_export(store, f"COCO selection {tag}", data, {
        "selection": tag, "min_score": min_score,
        "without_auto_accepted": without_auto_accepted})
    return data


def _coco_selection(store: Store, tag: str, *, min_score: float = PRELABEL_MIN_SCORE,
                    without_auto_accepted: bool = False) -> dict:
    """:func:`coco_selection` without the permission check and the audit row."""
    if not 0 <= min_score <= 1:
        raise ValueError(f"min_score {min_score!r} must be between 0 and 1")
    selection = store.selection(tag)
    ids = [i.item_id for i in selection.items]
    items = {i.id: i for i in store.items(ids=ids)}
    names = export_file_names(items.values(), store.images_dir)
    labels = _kept(store, list(items.values()), without_auto_accepted)
    model = selection.model_id
    prelabels: dict[int, list[dict]] = {i: [] for i in ids}
    if model is not None:
        for p in store.predictions(model, [i for i in ids if items[i].status != "labeled"]):
            if p["score"] >= min_score:
                prelabels[p["item_id"]].append(p)
    annotations = []
    for item_id in ids:
        if items[item_id].status == "labeled":
            boxes = [(a.class_id, a.box.as_xywh(), None) for a in labels[item_id]]
        else:
            boxes = [(p["class_id"], [p["x1"], p["y1"], p["x2"] - p["x1"], p["y2"] - p["y1"]],
                      p["score"]) for p in prelabels[item_id]]
        for class_id, (x, y, w, h), score in boxes:
            ann = {"id": len(annotations) + 1, "image_id": item_id, "category_id": class_id,
                   "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            if score is not None:
                ann["score"] = score
            annotations.append(ann)
    return {
        "info": {"description": f"selection {tag} of {store.root.name}: {len(ids)} images, "
                                f"pre-labels from model #{model} (score >= {min_score})"
                 if model is not None else f"selection {tag} of {store.root.name}: "
                                           f"{len(ids)} images, no model, no pre-labels"},
        "images": [{"id": i, "file_name": names[i], "width": items[i].width,
                    "height": items[i].height} for i in ids],
        "categories": [{"id": c.id, "name": c.name} for c in store.classes()],
        "annotations": annotations,
    }


def export_coco(store: Store, out: str | Path, *, selection: str | None = None,
                min_score: float = PRELABEL_MIN_SCORE, without_auto_accepted: bool = False,
                **filters) -> dict:
    """Write the labeled items (by ``filters``), or a selection's batch with pre-labels;
    ``without_auto_accepted`` leaves out the boxes box-level review saved without asking.
    Team mode asks for a reviewer or a lead (``export``)."""
    if selection is not None and any(v is not None for v in filters.values()):
        raise ValueError("a selection is exported whole; --split and --tag do not apply")
    store.authorize("export")
    data = _coco_selection(store, selection, min_score=min_score,
                           without_auto_accepted=without_auto_accepted) \
        if selection is not None else \
        _coco_instances(store, without_auto_accepted=without_auto_accepted, **filters)
    _atomic_write_text(Path(out), json.dumps(data))
    _audit_export(store, "COCO" + (f" selection {selection}" if selection else " instances"),
                  data, {"selection": selection, "min_score": min_score if selection else None,
                         "without_auto_accepted": without_auto_accepted, **filters},
                  out=Path(out))
    return {"images": len(data["images"]), "annotations": len(data["annotations"]),
            "categories": len(data["categories"])}


def _yolo_paths(split: str, rel: PurePosixPath) -> tuple[str, str]:
    """The image and label file an item with path ``rel`` writes, folded."""
    return (same_file_key(PurePosixPath("images", split, rel)),
            same_file_key(PurePosixPath("labels", split, rel.with_suffix(".txt"))))


def _yolo_names(items) -> dict[int, PurePosixPath]:
    """Each item's path inside its split folder, so that no two items write one file.
    YOLO finds a label by the image's stem, so images whose label files would be one
    (``a.png`` and ``a.jpg``; ``A.jpg`` and ``a.jpg``, which are one file on Windows and
    macOS; one name from two referenced folders) are each named ``STEM-<item id>``, and
    ``STEM-<item id>-2``, ``-3``... where that is a name the export writes anyway (a
    real ``img-4.jpg`` beside ``img.jpg`` of item 4) or a folder it makes."""
    files: dict[str, int] = {}
    folders: set[str] = set()
    for item in items:
        rel = PurePosixPath(item.file)
        for path in _yolo_paths(item.split or "unsplit", rel):
            files[path] = files.get(path, 0) + 1
            folders.update(same_file_key(p) for p in PurePosixPath(path).parents)
    names, renamed = {}, []
    for item in items:
        rel = PurePosixPath(item.file)
        paths = _yolo_paths(item.split or "unsplit", rel)
        if all(files[p] == 1 and p not in folders for p in paths):
            names[item.id] = rel
        else:
            renamed.append(item)
    taken = set(files) | folders  # never a name another item has, kept or renamed
    for item in renamed:
        rel, split = PurePosixPath(item.file), item.split or "unsplit"
        for n in itertools.count(1):
            name = rel.with_name(f"{rel.stem}-{item.id}{'' if n == 1 else f'-{n}'}{rel.suffix}")
            paths = _yolo_paths(split, name)
            if taken.isdisjoint(paths):
                break
        taken.update(paths)
        names[item.id] = name
    return names


def _yolo_label_lines(item, anns, index: dict[int, int]) -> str:
    lines = []
    for a in anns:
        b = a.box
        lines.append(f"{index[a.class_id]} {(b.x1 + b.x2) / 2 / item.width:.6f} "
                     f"{(b.y1 + b.y2) / 2 / item.height:.6f} "
                     f"{(b.x2 - b.x1) / item.width:.6f} {(b.y2 - b.y1) / item.height:.6f}\n")
    return "".join(lines)


class _Quoted(str):
    """A string value data.yaml writes in quotes."""


_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")


def _represent_quoted(dumper: yaml.SafeDumper, value: _Quoted) -> yaml.ScalarNode:
    """Single quotes, where nothing is escaped (an emoji stays as it is); double quotes,
    with escapes, for a string holding a line break, which single quotes would fold
    (PyYAML turns a quoted NEL into a space)."""
    style = '"' if _LINE_BREAKS.intersection(value) else "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _DataYamlDumper(yaml.SafeDumper):
    pass


_DataYamlDumper.add_representer(_Quoted, _represent_quoted)


def yolo_data_yaml(out: Path, splits: dict[str, str], classes) -> str:
    """YOLO's ``data.yaml``: ``path``, a key per split (``train: images/train``) and
    ``names`` (index -> class name), written by PyYAML's safe dumper. Every string value
    is quoted, so a class name reads back as itself in YAML 1.1 and 1.2 readers alike:
    an emoji, a quote, ``yes``, ``null``, ``1e3`` (a number to a 1.2 reader when plain)
    or a line break."""
    data = {"path": _Quoted(str(out)),
            **{k: _Quoted(f"images/{v}") for k, v in sorted(splits.items())},
            "names": {k: _Quoted(c.name) for k, c in enumerate(classes)}}
    return yaml.dump(data, Dumper=_DataYamlDumper, allow_unicode=True, sort_keys=False)


MANIFEST = ".als-export.json"  # the files a YOLO export wrote, so a re-export replaces only them


def _owned_files(out: Path) -> set[PurePosixPath]:
    """The files an earlier export of ours wrote into ``out`` (its manifest). Raises
    ValueError for a folder that is not empty and holds no manifest: nothing in it is
    ours to replace."""
    if not out.exists():
        return set()
    if not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder for the YOLO dataset")
    manifest = out / MANIFEST
    if not manifest.exists():
        if any(out.iterdir()):
            raise ValueError(f"{out} is not empty and was not written by a YOLO export of "
                             f"this tool (no {MANIFEST} in it); nothing in it is replaced: "
                             "choose a new or empty folder")
        return set()
    try:
        files = read_json_file(manifest, "export manifest", expect=dict)["files"]
        owned = {PurePosixPath(f) for f in files}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{manifest} is damaged ({exc}); nothing in {out} is replaced: "
                         "choose a new or empty folder") from None
    if any(p.is_absolute() or ".." in p.parts for p in owned):
        raise ValueError(f"{manifest} lists paths outside {out}; nothing is replaced")
    return owned


def export_yolo(store: Store, out_dir: str | Path, *, split: str | None = None,
                tag: str | None = None, without_auto_accepted: bool = False) -> dict:
    """A YOLO dataset: ``images/<split>/``, ``labels/<split>/`` (``class cx cy w h``,
    normalised), ``data.yaml`` with the class names. Items without a split go to
    ``unsplit``. Written into a new or empty folder, or over an earlier export of ours:
    then only the files that export wrote (listed in its ``.als-export.json``) are
    replaced or removed, and anything else in the folder (weights, runs, notes) is left
    as it is. ``without_auto_accepted`` as in :func:`coco_instances`. The new files are
    made in a private folder beside ``out_dir`` first, so a
    failure (disk full) changes nothing. Raises ValueError for a folder that is not ours,
    or when a new file would overwrite one the export does not own. Team mode asks for
    a reviewer or a lead (``export``)."""
    store.authorize("export")
    out = Path(out_dir).resolve()
    owned = _owned_files(out)
    classes = store.classes()
    index = {c.id: k for k, c in enumerate(classes)}
    items = _labeled_items(store, split, tag)
    anns = _kept(store, items, without_auto_accepted)
    names = _yolo_names(items)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for item in items:
            sub = item.split or "unsplit"
            img_dest = staging / "images" / sub / names[item.id]
            img_dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(store.image_path(item), img_dest)
            label = staging / "labels" / sub / names[item.id].with_suffix(".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(_yolo_label_lines(item, anns[item.id], index), encoding="utf-8")
        splits = sorted({i.split or "unsplit" for i in items})
        keys = {s: s for s in splits}
        for needed in ("train", "val"):  # trainers require both keys
            keys.setdefault(needed, "train" if "train" in splits else (splits or ["unsplit"])[0])
        (staging / "data.yaml").write_text(yolo_data_yaml(out, keys, classes),
                                           encoding="utf-8")
        written = sorted(PurePosixPath(p.relative_to(staging).as_posix())
                         for p in staging.rglob("*") if p.is_file())
        _check_one_file_per_item(written, items)
        foreign = [p for p in written if p not in owned and (out / p).exists()]
        if foreign:
            raise ValueError(f"{out / foreign[0]} was not written by the earlier export and "
                             f"would be overwritten ({len(foreign)} such files); nothing was "
                             "changed: choose a new or empty folder")
        _swap_in(staging, out, owned, written)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    store.audit("export.yolo", object_type="project",
                summary=f"exported YOLO: {len(items)} images, "
                        f"{sum(len(anns[i.id]) for i in items)} boxes to {str(out)[-200:]}",
                after={k: v for k, v in {"split": split, "tag": tag, "without_auto_accepted":
                                         without_auto_accepted}.items()
                       if v not in (None, False)} or None)
    return {"images": len(items), "annotations": sum(len(anns[i.id]) for i in items),
            "categories": len(classes)}


def _check_one_file_per_item(written: list[PurePosixPath], items) -> None:
    """Raise ValueError unless the export wrote one image and one label file per item:
    the counts it reports are the files it wrote, never more."""
    images = sum(p.parts[0] == "images" for p in written)
    labels = sum(p.parts[0] == "labels" for p in written)
    if images != len(items) or labels != len(items):
        raise ValueError(f"the YOLO export wrote {images} images and {labels} label files "
                           f"for {len(items)} items; nothing was changed")


def _swap_in(staging: Path, out: Path, owned: set[PurePosixPath],
             written: list[PurePosixPath]) -> None:
    """Replace the files of the earlier export (``owned``) in ``out`` by ``written`` from
    ``staging``; the manifest goes last, so an interrupted swap still lists every file
    that may be ours."""
    if not out.exists():
        out.mkdir()
    manifest = out / MANIFEST
    _atomic_write_text(manifest, json.dumps({"files": sorted(
        map(str, owned | set(written)))}))  # ours while swapping: the old and the new
    for rel in sorted(owned - set(written)):
        (out / rel).unlink(missing_ok=True)
    for rel in written:
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, dest)
    for folder in sorted({(out / r).parent for r in owned - set(written)}, reverse=True):
        while folder != out and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # an emptied folder of ours
            folder = folder.parent
    _atomic_write_text(manifest, json.dumps({"files": sorted(map(str, written))}))
