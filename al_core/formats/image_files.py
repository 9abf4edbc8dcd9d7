"""Image files copied into a project's ``images/`` folder, safely beside other writers.

A copy is written to a private temporary name and then linked to its planned name,
which fails when the name exists: a half-written file (a full disk, a killed process)
never appears under an image's name, and two imports never overwrite each other's
files. Before the items are written (inside the database's write lock) every planned
file that this import did not create itself is checked to be there with the expected
content; when an import fails, it removes only the files it created that no item uses,
also inside the write lock, so a file another import has bound is never deleted.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import unicodedata
import uuid
from collections.abc import Iterable
from pathlib import Path

from al_core.store import Store


class FileConflict(Exception):
    """A planned image file is missing or holds other content than expected."""


def same_file_key(path) -> str:
    """A relative path as a case- and normalisation-insensitive file system sees it
    (Windows; macOS, which also folds Unicode forms): two paths with one key are one
    file there, so a writer that names files must keep these keys apart."""
    return unicodedata.normalize("NFC", str(path)).casefold()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stray_file(path: Path, sha256: str) -> bool:
    """A file is at ``path`` (no item of the project uses it: a killed import's, a copy
    put there by hand) with other content than ``sha256``: the name is taken."""
    return path.is_file() and file_sha256(path) != sha256


def copy_in(files: Iterable[tuple[Path, str]], images_dir: Path) -> list[Path]:
    """Copy each (source, relative POSIX name) to ``images_dir / name`` unless that name
    exists. Returns the files created. Raises OSError when a copy fails; on any failure
    or interruption (Ctrl-C) it first removes what it created, so no file is left under
    any name."""
    created: list[Path] = []
    try:
        for source, rel in files:
            dest = images_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                continue  # another writer's, or an earlier import's: checked by verify()
            tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
            try:
                shutil.copyfile(source, tmp)
                try:
                    os.link(tmp, dest)  # atomic, and refuses an existing name
                except FileExistsError:
                    continue
                except OSError:  # a file system without hard links
                    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                    os.close(fd)  # the name is ours; verify() catches a kill before:
                    os.replace(tmp, dest)  # an empty file is never the expected content
                created.append(dest)
            finally:
                tmp.unlink(missing_ok=True)
    except BaseException:  # a full disk, or Ctrl-C: copies no item will ever use
        for path in created:
            path.unlink(missing_ok=True)
        raise
    return created


def verify(images_dir: Path, planned: Iterable[tuple[str, str]], created: list[Path]) -> None:
    """Every planned (relative name, sha256) this import did not create is there with that
    content. Call inside the store's write lock, before binding items to the files.
    Raises FileConflict naming the first file that is not."""
    mine = set(created)
    for rel, sha256 in planned:
        path = images_dir / rel
        if path in mine:
            continue
        if not path.is_file():
            raise FileConflict(f"{path} disappeared while importing (another import "
                               "rolled back?)")
        if file_sha256(path) != sha256:
            raise FileConflict(f"{path} holds other content than the imported image "
                               "(written by another import meanwhile, or left half-written)")


def remove_unbound(store: Store, created: list[Path]) -> None:
    """After a failed import: delete the files it created that no item refers to (in the
    write lock, so an import that bound one of them meanwhile keeps it)."""
    if not created:
        return
    with store.write():
        bound = set(store.item_ids_by_file(""))
        for path in created:
            if path.relative_to(store.images_dir).as_posix() not in bound:
                path.unlink(missing_ok=True)
