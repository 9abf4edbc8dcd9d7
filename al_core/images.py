"""Reading images safely: size limits before decoding, truncation and format errors
turned into :class:`ImageError` messages that name the file and the problem."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
DEFAULT_MAX_PIXELS = 64_000_000  # 64 MP: above any camera a labeling team meets
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class ImageError(ValueError):
    """An image file cannot be used; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    sha256: str


def _open_checked(data: bytes, name: str, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: too many pixels, over the limit of {max_pixels:,} "
                         "(possible decompression bomb)") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name}: not a readable image (unknown or corrupt format)") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}x{height} = {width * height:,} pixels is over the "
                         f"limit of {max_pixels:,} (possible decompression bomb)")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: the image data is truncated or corrupt ({exc})") from exc
    return image


def probe_image(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Decode the whole file once (to catch truncation) and return its displayed size
    (after EXIF rotation) and the SHA-256 of its bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    if not data:
        raise ImageError(f"{path.name}: the file is empty")
    image = _open_checked(data, path.name, max_pixels)
    width, height = image.size
    if image.getexif().get(0x0112) in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(width, height, hashlib.sha256(data).hexdigest())


def load_image(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image as RGB, EXIF rotation applied: the pixel frame boxes refer to."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror})") from exc
    image = _open_checked(data, path.name, max_pixels)
    return ImageOps.exif_transpose(image).convert("RGB")
