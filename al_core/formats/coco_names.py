"""Which file of the imported folder a COCO ``file_name`` means, as real exporters write
names: ``/`` or ``\\`` separators, a prefix from the exporting machine that the folder
does not have (Label Studio: ``..\\..\\label-studio\\media\\upload\\4\\cb0618f6-cat_01.png``
for ``images/cb0618f6-cat_01.png``), percent-escapes (``my%20cat.png``), Unicode in
another normal form (macOS writes NFD), the extension in other letter case (``.JPG``).

A name is only a key to look up: it is compared with the relative paths of the files
the folder scan found, and only those files are ever opened, so ``..`` or an absolute
path in a name can never reach outside the folder. A name matches the one file whose
path is the name itself, else the one file whose path ends with the longest run of the
name's last parts; when two files end with that run, it matches neither.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote


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


def name_parts(name: str, *, normalize: bool = True) -> tuple[str, ...]:
    """The parts of a path as a lookup key: either separator; ``.``, empty parts, a
    leading drive or URL scheme (``C:``, ``http:``) dropped, ``..`` applied (leading ones
    dropped); with ``normalize``, each part in Unicode NFC and the last part's extension
    in lower case."""
    parts: list[str] = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", ".") or (not parts and part.endswith(":")):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(unicodedata.normalize("NFC", part) if normalize else part)
    if parts and normalize:
        stem, dot, ext = parts[-1].rpartition(".")
        if dot and stem:
            parts[-1] = f"{stem}.{ext.lower()}"
    return tuple(parts)


@dataclass(frozen=True)
class NameMatch:
    """The outcome of looking a name up: ``path`` (a relative path of the folder) or
    None; ``candidates`` the files that fit equally well when there are two or more."""

    name: str
    path: str | None = None
    candidates: tuple[str, ...] = ()
    used: tuple[str, ...] = ()  # the name's parts that matched, as written
    unused: tuple[str, ...] = ()  # the leading key parts that are not in the folder
    decoded: bool = False  # matched after decoding %-escapes

    def how(self) -> str | None:
        """How a match differs from the plain relative path, in words; None if it does not."""
        if self.path is None or safe_relative(self.name) == self.path:
            return None
        ways = []
        if self.unused:
            what = "file name" if len(self.used) == 1 else f"last {len(self.used)} path parts"
            ways.append(f"by its {what} ('{'/'.join(self.unused)}/' is not in the folder)")
        if self.decoded:
            ways.append("after decoding its %-escapes")
        if self.used != PurePosixPath(self.path).parts[-len(self.used):]:
            ways.append("spelled differently (Unicode form or the extension's letter case)")
        return ", ".join(ways) or "as a path inside the folder"


class NameIndex:
    """The relative paths of a folder's files, looked up by :func:`name_parts` keys."""

    def __init__(self, paths: Iterable[str]) -> None:
        self._paths: set[str] = set()
        self._by_suffix: dict[tuple[str, ...], list[str]] = {}
        self._whole: dict[tuple[str, ...], list[str]] = {}
        for rel in paths:
            self._paths.add(rel)
            parts = name_parts(rel)
            self._whole.setdefault(parts, []).append(rel)
            for k in range(1, len(parts) + 1):
                self._by_suffix.setdefault(parts[-k:], []).append(rel)

    def match(self, name: str) -> NameMatch:
        """The one file ``name`` means (see the module's rules)."""
        if not isinstance(name, str) or not name or "\x00" in name:
            return NameMatch(str(name))
        plain = safe_relative(name)
        if plain in self._paths:
            return NameMatch(name, plain, used=tuple(plain.split("/")))
        best = NameMatch(name)
        variants = [(name, False)]
        if "?d=" in name:  # Label Studio's local-files URL: /data/local-files/?d=images/a.png
            variants.append((name.split("?d=", 1)[1], False))
        variants += [(unquote(v), True) for v, _ in list(variants) if unquote(v) != v]
        for text, decoded in variants:
            found = self._lookup(name, text, decoded)
            if len(found.used) > len(best.used):
                best = found
        return best

    def _lookup(self, name: str, text: str, decoded: bool) -> NameMatch:
        parts, raw = name_parts(text), name_parts(text, normalize=False)
        whole = self._whole.get(parts, []) if parts else []
        if len(whole) == 1:
            return NameMatch(name, whole[0], used=raw, decoded=decoded)
        for k in range(len(parts), 0, -1):
            fits = self._by_suffix.get(parts[-k:])
            if fits:
                return NameMatch(name, fits[0] if len(fits) == 1 else None,
                                 tuple(sorted(fits)) if len(fits) > 1 else (),
                                 used=raw[-k:], unused=raw[:-k], decoded=decoded)
        return NameMatch(name)


def _free_name(name: str, item_id: int, taken: set[str]) -> str:
    """``STEM-<id>``, then ``STEM-<id>-2``, ``-3``... : the first not in ``taken`` (which
    it joins)."""
    path = PurePosixPath(name)
    candidate, n = str(path.with_stem(f"{path.stem}-{item_id}")), 1
    while candidate in taken:
        n += 1
        candidate = str(path.with_stem(f"{path.stem}-{item_id}-{n}"))
    taken.add(candidate)
    return candidate


def export_file_names(items, images_dir: str | Path) -> dict[int, str]:
    """item id -> the ``file_name`` a COCO export writes for it: its relative path, except
    where two items of the export have one path (one name in two referenced folders, or
    in a referenced folder and the project's ``images_dir``): each of those is prefixed
    with the last parts of its folder, as few as make the names differ (``cam1/img.jpg``,
    ``cam2/img.jpg``), so no two images of a file share a name. An import of the file
    (``import --selection``) matches by these names again."""
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(item.file, []).append(item)
    names = {group[0].id: file for file, group in groups.items() if len(group) == 1}
    taken = set(groups)
    for file, group in groups.items():
        if len(group) == 1:
            continue
        folders = [PurePosixPath(Path(i.root or images_dir).as_posix()).parts[1:]
                   for i in group]
        qualified = [file] * len(group)
        for k in range(1, max(map(len, folders)) + 1):
            qualified = ["/".join((*f[-k:], file)) for f in folders]
            if len(set(qualified)) == len(group) and taken.isdisjoint(qualified):
                break
        else:  # the whole folder path is another item's name: the item id makes it one
            qualified = [_free_name(q, i.id, taken) for q, i in zip(qualified, group)]
        taken.update(qualified)
        names.update((i.id, q) for i, q in zip(group, qualified))
    return names
