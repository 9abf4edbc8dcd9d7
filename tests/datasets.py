"""Tiny generated COCO datasets (and a corpus of bad inputs) for the import tests."""
from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_dataset(folder: Path, n: int = 12, *, seed: int = 0, nested: bool = True) -> dict:
    """``n`` small images (jpg/png/webp, some in a subfolder) and their COCO instances."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    categories = [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 12, "name": "bird"}]
    images, annotations = [], []
    for i in range(n):
        w, h = int(rng.integers(32, 96)), int(rng.integers(32, 96))
        ext = ("png", "jpg", "webp")[i % 3]
        rel = f"sub/img{i:03d}.{ext}" if nested and i % 4 == 0 else f"img{i:03d}.{ext}"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / rel)
        images.append({"id": 100 + i, "file_name": rel, "width": w, "height": h})
        for _ in range(int(rng.integers(0, 4))):
            x, y = float(rng.uniform(0, w - 8)), float(rng.uniform(0, h - 8))
            bw, bh = float(rng.uniform(2, w - x)), float(rng.uniform(2, h - y))
            annotations.append({"id": len(annotations) + 1, "image_id": 100 + i,
                                "category_id": int(rng.choice([7, 3, 12])),
                                "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0})
    return {"images": images, "annotations": annotations, "categories": categories}


def huge_png_header(path: Path, width: int, height: int) -> None:
    """A PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def add_bad_inputs(folder: Path, coco: dict, outside: Path) -> dict[str, str]:
    """Seed ``folder`` and ``coco`` with one of each bad input; return what each should
    be reported as (a fragment of the problem message). The bad annotations are on
    ``coco["images"][1]`` and ``coco["images"][3]`` is listed twice: both images are
    left unlabeled."""
    good = coco["images"][1]
    expected = {}
    (folder / "notimage.jpg").write_text("this is not a picture")
    expected["notimage.jpg"] = "not a readable image"
    data = (folder / coco["images"][2]["file_name"]).read_bytes()
    (folder / "truncated.png").write_bytes(Image_png_truncated())
    expected["truncated.png"] = "truncated"
    (folder / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage" * 10)
    expected["garbage.jpg"] = "not a readable image"
    webp = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(webp, format="WEBP")
    (folder / "cut.webp").write_bytes(webp.getvalue()[: len(webp.getvalue()) // 2])
    expected["cut.webp"] = "skipped"
    (folder / "empty.png").write_bytes(b"")
    expected["empty.png"] = "empty"
    huge_png_header(folder / "bomb.png", 100_000, 100_000)
    expected["bomb.png"] = "over the limit"
    (folder / "copy.png").write_bytes(data)
    expected["copy.png"] = "same content"
    (outside / "secret.png").write_bytes(data[:0] or (folder / good["file_name"]).read_bytes())
    (folder / "link.png").symlink_to(outside / "secret.png")
    expected["link.png"] = "links outside"
    gw, gh = good["width"], good["height"]
    anns = coco["annotations"]
    nid = 10_000
    for bbox, msg in [([gw - 10, gh - 10, 50, 50], "clipped"),
                      ([5, 5, 0, 10], "zero or negative"),
                      ([5, 5, -4, 10], "zero or negative"),
                      ([float("nan"), 5, 4, 10], "NaN"),
                      ([gw + 20, 5, 4, 4], "outside the"),
                      ([1, 2, 3], "not four numbers")]:
        nid += 1
        anns.append({"id": nid, "image_id": good["id"], "category_id": 7, "bbox": bbox})
        expected[f"annotation #{len(anns) - 1} (id {nid})"] = msg
    anns.append({"id": 20001, "image_id": 99999, "category_id": 7, "bbox": [1, 1, 2, 2]})
    expected["(id 20001)"] = "image_id 99999 is not an image of the COCO file"
    anns.append({"id": 20002, "image_id": good["id"], "category_id": 555, "bbox": [1, 1, 2, 2]})
    expected["(id 20002)"] = "category_id 555 is not a known category"
    anns.append({"id": 20003, "image_id": [good["id"]], "category_id": 7, "bbox": [1, 1, 2, 2]})
    expected["(id 20003)"] = "image_id [" 
    anns.append({"id": 20004, "image_id": good["id"], "category_id": {}, "bbox": [1, 1, 2, 2],
                 "score": None})
    expected["(id 20004)"] = "category_id {} is not a known category"
    coco["images"].append({"id": 900, "file_name": "../../etc/passwd.png", "width": 1, "height": 1})
    expected["COCO image 900"] = "no readable image in the folder has this name"
    twice = coco["images"][3]  # a second id for one file: its annotations attach to neither
    coco["images"].append({"id": 901, "file_name": twice["file_name"], "width": twice["width"],
                           "height": twice["height"]})
    expected["COCO image 901"] = "the file lists it 2 times"
    coco["images"].append({"id": 902, "file_name": "missing.png", "width": 4, "height": 4})
    expected["COCO image 902"] = "no readable image in the folder has this name"
    return expected


def Image_png_truncated() -> bytes:
    import io
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
                    ).save(buf, format="PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))  # NaN is written as the NaN literal, as many tools do
    return path


def add_model_from_labels(store, name, *, keep=1.0, jitter=0.0, seed=0, status="external"):
    """A model (external by default) whose predictions are the test labels, some dropped
    (kept with probability ``keep``) or moved (by ``jitter`` pixels); returns its id."""
    from al_core.types import Box

    rng = np.random.default_rng(seed)
    model = store.add_model(name=name, arch="external" if status == "external" else "compact",
                            status=status)
    rows = []
    test = [i.id for i in store.items(split="test")]
    for item_id, anns in store.annotations(test).items():
        for a in anns:
            if rng.random() < keep:
                b = a.box
                dx = rng.normal(0, jitter, 2)
                rows.append((item_id, a.class_id, Box(b.x1 + dx[0], b.y1 + dx[1],
                                                      b.x2 + dx[0], b.y2 + dx[1]),
                             float(rng.random())))
    store.add_predictions(model, rows)
    return model
