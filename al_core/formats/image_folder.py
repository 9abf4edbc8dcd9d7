"""What an images folder holds for an import: the files of a type import reads, each
probed as import reads it, and, when none of them can be imported, one line saying what
the folder holds instead (a folder of GIFs was imported as "0 of 0 images imported, 0
problems", exit 0, into a new empty project)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from al_core.formats.images import IMAGE_SUFFIXES, ImageError, ImageInfo, probe_image
from al_core.formats.import_report import ImportFailed, plural
from al_core.names import printable

READS = " ".join(sorted(IMAGE_SUFFIXES))
TYPES_SHOWN = 5
PROBLEMS_SHOWN = 3


def image_paths(folder: Path) -> list[Path]:
    """The files (or links) under ``folder``, recursive, of a type import reads, sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                  and (p.is_file() or p.is_symlink()))


def probe_in_folder(path: Path, root: Path, *, max_pixels: int) -> ImageInfo:
    """:func:`probe_image` of a file under the resolved folder ``root``. Raises ImageError
    (``name: why``) for a broken link, a link out of ``root``, or an image that cannot be
    used."""
    if not path.exists():
        raise ImageError(path.name, "a broken link")
    if not path.resolve().is_relative_to(root):
        raise ImageError(path.name, "it links outside the images folder")
    return probe_image(path, max_pixels=max_pixels)


def check_importable(folder: Path, *, max_pixels: int) -> None:
    """Return once one file under ``folder`` is an image import can read (usually the
    first). Raises ImportFailed naming the folder, what it holds and what import reads
    when it holds no file of such a type, or none of them can be read."""
    paths = image_paths(folder)
    where = f"images folder {printable(str(folder), 160)}"
    if not paths:
        held = _files_held(folder)
        raise ImportFailed(f"{where}: found {held or 'no file (subfolders searched too)'}"
                           + (", none of them an image type this reads" if held else "")
                           + f"; import reads {READS}; nothing was imported")
    root, problems = folder.resolve(), []
    for path in paths:
        try:
            probe_in_folder(path, root, max_pixels=max_pixels)
            return
        except ImageError as exc:
            rel = printable(path.relative_to(folder).as_posix())
            problems.append(f"{rel}: {exc.reason}")
    more = len(problems) - PROBLEMS_SHOWN
    raise ImportFailed(f"{where}: none of its {plural(len(paths), 'image file')} can be read ("
                       + "; ".join(problems[:PROBLEMS_SHOWN])
                       + (f"; and {more} more" if more > 0 else "") + "); nothing was imported")


def _files_held(folder: Path) -> str:
    """``3 files (3 .gif)``: the files under ``folder`` by type; '' when it holds none."""
    kinds = Counter(p.suffix.lower() or "no extension" for p in folder.rglob("*")
                    if p.is_file())
    if not kinds:
        return ""
    top = kinds.most_common(TYPES_SHOWN)
    rest = kinds.total() - sum(n for _, n in top)
    return (f"{plural(kinds.total(), 'file')} ("
            + ", ".join(f"{n} {printable(kind, 20)}" for kind, n in top)
            + (f", {rest} of other types" if rest else "") + ")")
