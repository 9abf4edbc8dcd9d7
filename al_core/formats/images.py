"""Reading images safely: size limits before decoding, truncation and format errors
turned into :class:`ImageError` messages that name the file and the problem; every pixel
format turned into the one 8-bit RGB picture that training, prediction, features and
display all see (:func:`to_rgb`)."""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from al_core.names import printable

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
DEFAULT_MAX_PIXELS = 64_000_000  # 64 MP: above any camera a labeling team meets
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
BACKGROUND = (255, 255, 255)  # transparent pixels are shown, trained on and predicted on white
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})


class ImageError(ValueError):
    """An image file cannot be used. ``ImageError(name, reason)``: the message is
    ``name: reason`` (the name through :func:`~al_core.names.printable`); ``reason``
    alone is what a report writes after its own name of the file, so a name holding
    ``": "`` is never cut. ``ImageError(message)``: ``reason`` is the whole message."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        super().__init__(name if reason is None else f"{printable(name, None)}: {reason}")
        self.name = None if reason is None else name
        self.reason = name if reason is None else reason


@dataclass(frozen=True)
class ImageInfo:
    """An image file's displayed size (after EXIF rotation) and content hash;
    ``exif_turned``: its EXIF orientation turns it a quarter, so the stored frame is
    ``height`` x ``width``."""

    width: int
    height: int
    sha256: str
    exif_turned: bool = False


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
            raise ImageError(name, f"too many pixels, over the limit of {max_pixels:,} "
                             "(possible decompression bomb)") from exc
        except UnidentifiedImageError as exc:
            raise ImageError(name, "not a readable image (unknown or corrupt format)") from exc
        except Exception as exc:  # noqa: BLE001 - see the docstring
            raise ImageError(name, f"not a readable image ({exc})") from exc
        return _decode(image, name, max_pixels)


def _decode(image: Image.Image, name: str, max_pixels: int) -> Image.Image:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(name, f"{width}x{height} = {width * height:,} pixels is over the "
                         f"limit of {max_pixels:,} (possible decompression bomb)")
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001 - any decoder failure means a damaged file
        raise ImageError(name, f"the image data is truncated or corrupt ({exc})") from exc
    return image


def probe_image(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Decode the whole file once (to catch truncation) and return its displayed size
    (after EXIF rotation) and the SHA-256 of its bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(path.name, f"cannot be read ({exc.strerror})") from exc
    if not data:
        raise ImageError(path.name, "the file is empty")
    image = _open_checked(data, path.name, max_pixels)
    width, height = image.size
    turned = _turned(image)
    if turned:
        width, height = height, width
    return ImageInfo(width, height, hashlib.sha256(data).hexdigest(), turned)


def exif_turned(path: Path) -> bool:
    """Whether the file's EXIF orientation turns it a quarter (orientations 5-8: it is
    shown ``height`` x ``width`` of its stored frame). False for a file without such a
    tag, and for one that cannot be opened (never raises)."""
    try:
        with Image.open(path) as image:
            return _turned(image)
    except Exception:  # noqa: BLE001 - unreadable: it has no orientation this can use
        return False


def _turned(image: Image.Image) -> bool:
    try:
        return image.getexif().get(0x0112) in _TRANSPOSED_ORIENTATIONS
    except Exception:  # noqa: BLE001 - a damaged EXIF block: use the stored frame
        return False


def load_image(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image as 8-bit RGB (:func:`to_rgb`), EXIF rotation applied: the pixel frame
    boxes refer to."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(str(path), f"cannot be read ({exc.strerror})") from exc
    image = _open_checked(data, path.name, max_pixels)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - as in probe_image: a damaged EXIF block is ignored
        pass
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """The 8-bit RGB picture of an image in any mode Pillow opens. ``convert("RGB")``
    alone clips wide values (a 16-bit grey of 40 * 257 became white), so:

    - 16-bit integers (``I;16``, ``I;16B``, ...: 16-bit grey PNG and TIFF) keep their top
      8 bits, ``value >> 8`` (40 * 257 -> 40), as Pillow itself reduces 16-bit colour and
      grey-alpha PNGs: the same picture whichever way a tool saved it.
    - ``I`` (32-bit integers): an image whose values all lie in 0..65535 holds 16-bit data
      (a 16-bit PGM, a 16-bit PNG in Pillow before 10) and is reduced the same way; one
      with a value outside that range is stretched from its own minimum (0) to its
      maximum (255).
    - ``F`` (32-bit floats): values all in 0..1 are scaled by 255; values all in 0..255
      are rounded as they are; anything else is stretched from the image's own minimum to
      its maximum. NaN and infinities count as 0.
    - Transparency (an alpha band, or a transparent colour or palette entry, in any mode)
      is composited on white, :data:`BACKGROUND`: what a viewer shows, never the
      arbitrary colour stored under a transparent pixel.
    - Everything else (``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ``LAB``, ...)
      is Pillow's conversion. Pillow reads CMYK JPEG with Adobe's inverted polarity and
      converts CMYK without colour management (an embedded ICC profile is not used).
    """
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        return _wide_grey_to_rgb(image)
    if image.mode in _ALPHA_MODES or image.mode == "P" or "transparency" in image.info:
        return _on_background(image.convert("RGBA"))
    return image.convert("RGB")


def _wide_grey_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image)  # (H, W) uint16 (either byte order), int32 or float32
    if image.mode == "F":
        grey = _float_to_uint8(np.where(np.isfinite(values), values, 0).astype(np.float64))
    elif values.size and (image.mode != "I" or 0 <= values.min() and values.max() <= 65535):
        grey = (values.astype(np.int64) >> 8).astype(np.uint8)
    else:
        grey = _stretch(values.astype(np.float64))
    rgb = Image.fromarray(grey, "L").convert("RGB")
    transparent = image.info.get("transparency")  # 16-bit grey PNG: a tRNS grey value
    if isinstance(transparent, (int, float)):
        opaque = np.where(values == transparent, 0, 255).astype(np.uint8)  # (H, W)
        rgb.putalpha(Image.fromarray(opaque, "L"))
        return _on_background(rgb)
    return rgb


def _float_to_uint8(values: np.ndarray) -> np.ndarray:
    lo, hi = (values.min(), values.max()) if values.size else (0.0, 0.0)
    if lo >= 0 and hi <= 1:
        return np.rint(values * 255).astype(np.uint8)
    if lo >= 0 and hi <= 255:
        return np.rint(values).astype(np.uint8)
    return _stretch(values)


def _stretch(values: np.ndarray) -> np.ndarray:
    """The image's own minimum -> 0, maximum -> 255 (all 0 for a flat image)."""
    lo, hi = (values.min(), values.max()) if values.size else (0.0, 0.0)
    if hi <= lo:
        return np.zeros(values.shape, np.uint8)
    return np.rint((values - lo) / (hi - lo) * 255).astype(np.uint8)


def _on_background(rgba: Image.Image) -> Image.Image:
    out = Image.new("RGB", rgba.size, BACKGROUND)
    out.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return out
