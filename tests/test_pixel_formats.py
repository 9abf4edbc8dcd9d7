"""Every pixel format Pillow opens reaches training, prediction, features and display as
the right 8-bit RGB picture (issue 15): known pixel values in, known RGB values out."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from al_core.formats.coco_import import import_folder
from al_core.formats.images import BACKGROUND, load_image, probe_image, to_rgb
from al_core.query.features import image_features
from al_core.training.data import load_items

WHITE = list(BACKGROUND)


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: list[bytes],
         extra: bytes = b"") -> bytes:
    """A PNG written byte by byte, for the depths Pillow's writer does not produce."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    data = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", data)
            + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _saved(tmp_path: Path, name: str, image: Image.Image, fmt: str, **options) -> Path:
    path = tmp_path / name
    image.save(path, format=fmt, **options)
    return path


def _written(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _mode(path: Path) -> str:
    with Image.open(path) as image:
        return image.mode


def _pixels(path: Path) -> np.ndarray:
    """load_image's RGB values, after checking probe_image (import) agrees on the size."""
    image = load_image(path)
    assert image.mode == "RGB"
    info = probe_image(path)
    assert (info.width, info.height) == image.size
    return np.asarray(image).tolist()


def _grey16(values) -> np.ndarray:
    return np.array(values, np.uint16)


def test_16_bit_grey_png_keeps_its_values(tmp_path):
    path = _saved(tmp_path, "g16.png", Image.fromarray(_grey16([[40 * 257, 160 * 257]])), "PNG")
    assert _mode(path) == "I;16"
    assert _pixels(path) == [[[40] * 3, [160] * 3]]


def test_16_bit_values_keep_their_top_8_bits_like_pillows_16_bit_colour(tmp_path):
    grey = _saved(tmp_path, "g.png", Image.fromarray(_grey16([[1000, 65535, 0]])), "PNG")
    row = np.array([[1000] * 3, [65535] * 3, [0] * 3], ">u2").tobytes()
    colour = _written(tmp_path, "c.png", _png(3, 1, 16, 2, [row]))
    assert _pixels(grey) == _pixels(colour) == [[[3] * 3, [255] * 3, [0] * 3]]


def test_16_bit_big_endian_tiff(tmp_path):
    image = Image.frombytes("I;16B", (2, 1), _grey16([40 * 257, 160 * 257]).astype(">u2").tobytes())
    path = _saved(tmp_path, "g16b.tif", image, "TIFF")
    assert _mode(path) == "I;16B"
    assert _pixels(path) == [[[40] * 3, [160] * 3]]
    assert np.asarray(to_rgb(image)).tolist() == [[[40] * 3, [160] * 3]]


def test_16_bit_grey_png_with_a_transparent_value(tmp_path):
    row = _grey16([40 * 257, 160 * 257]).astype(">u2").tobytes()
    path = _written(tmp_path, "t.png", _png(2, 1, 16, 0, [row],
                                            _chunk(b"tRNS", struct.pack(">H", 160 * 257))))
    assert _mode(path) == "I;16"
    assert _pixels(path) == [[[40] * 3, WHITE]]


def test_16_bit_colour_png(tmp_path):
    row = np.array([[40 * 257, 80 * 257, 160 * 257], [0, 65535, 257]], ">u2").tobytes()
    path = _written(tmp_path, "rgb16.png", _png(2, 1, 16, 2, [row]))
    assert _pixels(path) == [[[40, 80, 160], [0, 255, 1]]]


def test_16_bit_grey_alpha_and_colour_alpha_pngs(tmp_path):
    grey = np.array([[40 * 257, 65535], [160 * 257, 0]], ">u2").tobytes()
    colour = np.array([[40 * 257, 80 * 257, 160 * 257, 65535], [1, 2, 3, 0]], ">u2").tobytes()
    assert _pixels(_written(tmp_path, "la16.png", _png(2, 1, 16, 4, [grey]))) == \
        [[[40] * 3, WHITE]]
    assert _pixels(_written(tmp_path, "rgba16.png", _png(2, 1, 16, 6, [colour]))) == \
        [[[40, 80, 160], WHITE]]


def test_32_bit_integers_in_the_16_bit_range(tmp_path):
    """A 16-bit PGM opens as mode I, as 16-bit PNGs did in Pillow before 10."""
    pgm = b"P5\n2 1\n65535\n" + _grey16([40 * 257, 160 * 257]).astype(">u2").tobytes()
    path = _written(tmp_path, "g16.pgm", pgm)
    assert _mode(path) == "I"
    assert _pixels(path) == [[[40] * 3, [160] * 3]]
    image = Image.fromarray(np.array([[40 * 257, 160 * 257]], np.int32))
    assert image.mode == "I" and np.asarray(to_rgb(image)).tolist() == [[[40] * 3, [160] * 3]]


def test_32_bit_integers_beyond_16_bits_stretch_from_min_to_max(tmp_path):
    image = Image.fromarray(np.array([[-5, 70_000, 30_000]], np.int32))
    path = _saved(tmp_path, "i32.tif", image, "TIFF")
    assert _mode(path) == "I"
    expected = [[[0] * 3, [255] * 3, [round(30_005 / 70_005 * 255)] * 3]]
    assert _pixels(path) == expected == np.asarray(to_rgb(image)).tolist()


@pytest.mark.parametrize("values, expected", [
    ([0.2, 0.6, 1.0, 0.0], [51, 153, 255, 0]),   # all in 0..1: times 255
    ([40.0, 160.4, 255.0, 2.0], [40, 160, 255, 2]),  # all in 0..255: rounded
    ([-10.0, 0.0, 41.0, 41.0], [0, 50, 255, 255]),  # otherwise: own min..max
    ([0.2, float("nan"), float("inf"), 1.0], [51, 0, 0, 255]),  # non-finite count as 0
])
def test_floats(tmp_path, values, expected):
    image = Image.fromarray(np.array([values], np.float32))
    path = _saved(tmp_path, "f.tif", image, "TIFF")
    assert _mode(path) == "F"
    assert _pixels(path) == [[[v] * 3 for v in expected]]


@pytest.mark.parametrize("cmyk, rgb", [
    ((0, 255, 255, 0), (255, 0, 0)),
    ((255, 0, 255, 0), (0, 255, 0)),
    ((0, 0, 0, 0), (255, 255, 255)),
    ((0, 0, 0, 255), (0, 0, 0)),
    ((0, 0, 0, 128), (127, 127, 127)),
])
def test_cmyk_jpeg_with_adobe_marker(tmp_path, cmyk, rgb):
    path = _saved(tmp_path, "cmyk.jpg", Image.new("CMYK", (16, 16), cmyk), "JPEG", quality=100)
    with Image.open(path) as opened:
        assert opened.mode == "CMYK" and "adobe" in opened.info  # Adobe's inverted polarity
    got = np.asarray(load_image(path))[8, 8]
    assert np.abs(got.astype(int) - rgb).max() <= 2, got


def _palette_image() -> Image.Image:
    image = Image.new("P", (3, 1))
    image.putpalette([255, 0, 0, 0, 0, 255, 40, 80, 160] + [0] * 759)
    image.putdata([0, 1, 2])
    return image


def test_palette_png_with_a_transparent_entry(tmp_path):
    path = _saved(tmp_path, "p.png", _palette_image(), "PNG", transparency=1)
    assert _mode(path) == "P"
    assert _pixels(path) == [[[255, 0, 0], WHITE, [40, 80, 160]]]


def test_palette_png_with_partly_transparent_entries(tmp_path):
    path = _saved(tmp_path, "pa.png", _palette_image(), "PNG", transparency=b"\xff\x80\x00")
    got = np.asarray(load_image(path)).astype(int)
    assert got[0, 0].tolist() == [255, 0, 0] and got[0, 2].tolist() == WHITE
    assert np.abs(got[0, 1] - [127, 127, 255]).max() <= 1  # half blue over white


def test_palette_png_without_transparency(tmp_path):
    path = _saved(tmp_path, "p.png", _palette_image(), "PNG")
    assert _pixels(path) == [[[255, 0, 0], [0, 0, 255], [40, 80, 160]]]


def test_grey_alpha_png(tmp_path):
    pixels = np.array([[[40, 255], [160, 0], [0, 128]]], np.uint8)
    path = _saved(tmp_path, "la.png", Image.fromarray(pixels, "LA"), "PNG")
    got = np.asarray(load_image(path)).astype(int)
    assert got[0, :2].tolist() == [[40] * 3, WHITE]
    assert np.abs(got[0, 2] - 127).max() <= 1  # half black over white


@pytest.mark.parametrize("fmt, options", [("PNG", {}), ("WEBP", {"lossless": True})])
def test_rgba(tmp_path, fmt, options):
    pixels = np.array([[[40, 80, 160, 255], [1, 2, 3, 0], [0, 0, 255, 128]]], np.uint8)
    path = _saved(tmp_path, f"rgba.{fmt.lower()}", Image.fromarray(pixels, "RGBA"), fmt, **options)
    assert _mode(path) == "RGBA"
    got = np.asarray(load_image(path)).astype(int)
    assert got[0, :2].tolist() == [[40, 80, 160], WHITE]
    assert np.abs(got[0, 2] - [127, 127, 255]).max() <= 1


def test_grey_and_colour_pngs_with_a_transparent_colour(tmp_path):
    grey = _saved(tmp_path, "l.png", Image.fromarray(np.array([[40, 160]], np.uint8)), "PNG",
                  transparency=160)
    colour = _saved(tmp_path, "rgb.png", Image.fromarray(
        np.array([[[40, 80, 160], [1, 2, 3]]], np.uint8)), "PNG", transparency=(1, 2, 3))
    assert _pixels(grey) == [[[40] * 3, WHITE]]
    assert _pixels(colour) == [[[40, 80, 160], WHITE]]


def test_grey_and_colour(tmp_path):
    grey = _saved(tmp_path, "l.png", Image.fromarray(np.array([[40, 160]], np.uint8)), "PNG")
    colour = _saved(tmp_path, "rgb.png", Image.fromarray(
        np.array([[[40, 80, 160], [1, 2, 3]]], np.uint8)), "PNG")
    assert _pixels(grey) == [[[40] * 3, [160] * 3]]
    assert _pixels(colour) == [[[40, 80, 160], [1, 2, 3]]]


def test_one_bit(tmp_path):
    path = _saved(tmp_path, "1.png", Image.fromarray(np.array([[False, True]])), "PNG")
    assert _mode(path) == "1"
    assert _pixels(path) == [[[0] * 3, [255] * 3]]


def _halves_16_bit() -> Image.Image:
    """16 x 16, left half 40 * 257 and right half 160 * 257."""
    values = np.full((16, 16), 40 * 257, np.uint16)
    values[:, 8:] = 160 * 257
    return Image.fromarray(values)


def test_a_16_bit_image_imports_and_trains_as_it_looks(store, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _halves_16_bit().save(folder / "g16.png")
    report = import_folder(store, folder)
    assert report.images_imported == 1 and report.problems == []
    item = store.items()[0]
    batch = load_items(store, [item.id], image_size=16, class_index=None)
    images = batch.images[0].numpy()  # (3, 16, 16) uint8
    assert (images[:, :, :8] == 40).all() and (images[:, :, 8:] == 160).all()


def test_features_see_a_16_bit_image_as_its_8_bit_twin():
    twin = Image.fromarray((np.asarray(_halves_16_bit()) // 257).astype(np.uint8))
    np.testing.assert_array_equal(image_features(_halves_16_bit()), image_features(twin))


def test_review_canvas_shows_a_16_bit_image_as_it_looks(tmp_path):
    from ui.canvas import background_jpeg

    path = tmp_path / "g16.png"
    _halves_16_bit().save(path)
    jpeg = background_jpeg(str(path), path.stat().st_mtime, 16, 16)
    with Image.open(io.BytesIO(jpeg)) as image:
        shown = np.asarray(image.convert("L")).astype(int)  # (16, 16)
    assert np.abs(shown[:, :6] - 40).max() <= 4 and np.abs(shown[:, 10:] - 160).max() <= 4
