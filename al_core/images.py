"""Reading images safely: size limits before decoding, truncation and format errors
turned into :class:`ImageError` messages that name the file and the problem."""
from __future__ import annotations

import hashlib
import io
import warnings
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


# Pillow refuses images over twice its MAX_IMAGE_PIXELS before any check of ours runs.
MAX_PIXELS_CEILING = 2 * Image.MAX_IMAGE_PIXELS


def _open_checked(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Open and fully decode untrusted bytes. Decoders raise many exception types on
    damaged files (OSError, SyntaxError, ValueError, struct.error, ...): every one of
    them means "this file is not a usable image", so all are turned into ImageError."""
    if not 0 < max_pixels <= MAX_PIXELS_CEILING:
        raise ValueError(f"max_pixels {max_pixels:,} must be between 1 and "
                         f"{MAX_PIXELS_CEILING:,}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise ImageError(f"{name}: too many pixels, over the limit of {max_pixels:,} "
                             "(possible decompression bomb)") from exc
        except UnidentifiedImageError as exc:
            raise ImageError(f"{name}: not a readable image (unknown or corrupt format)") from exc
        except Exception as exc:  # noqa: BLE001 - see the docstring
            raise ImageError(f"{name}: not a readable image ({exc})") from exc
        return _decode(image, name, max_pixels)


def _decode(image: Image.Image, name: str, max_pixels: int) -> Image.Image:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}x{height} = {width * height:,} pixels is over the "
                         f"limit of {max_pixels:,} (possible decompression bomb)")
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001 - any decoder failure means a damaged file
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
    try:
        orientation = image.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a damaged EXIF block: use the stored frame
        orientation = None
    if orientation in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(width, height, hashlib.sha256(data).hexdigest())


def load_image(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image as RGB, EXIF rotation applied: the pixel frame boxes refer to."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror})") from exc
    image = _open_checked(data, path.name, max_pixels)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - as in probe_image: a damaged EXIF block is ignored
        pass
    return image.convert("RGB")
