"""Folders built beside their destination and moved into place only when complete, so an
error, Ctrl-C or a bad option half-way never leaves a half-made project behind."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield ``.<name>.partial`` beside ``target`` (any leftover from an earlier killed
    run removed first); when the block completes it is renamed to ``target`` (which must
    be absent or an empty folder), and on any exception it is removed and the exception
    goes on."""
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        yield staging
        if target.exists():
            target.rmdir()  # empty, as the caller checked: replaced by the staged one
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
