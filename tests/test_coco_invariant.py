"""The import's invariant over generated COCO files with injected faults (issue 15,
build item 1): no image is ever labeled with fewer boxes than its file gives it; each
image is labeled with exactly its file's boxes, or unlabeled and named in the report.
Then the fixed file, imported again, labels every image with exactly its boxes."""
import json
import tempfile
import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from al_core.formats.coco_import import import_folder
from al_core.store import Store
from tests.coco_cases import pycocotools_boxes, stored_boxes, tiny_image

FILES = ["a.png", "sub/b.png", "c d.png", unicodedata.normalize("NFC", "É.png"), "e.PNG"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Five 8x8 images with distinct content, written once."""
    root = tmp_path_factory.mktemp("invariant") / "imgs"
    for n, name in enumerate(FILES):
        tiny_image(root / name, value=n)
    return root


NAME_FORMS = {  # how an exporter may write the file's name; all but 'missing' find it
    "exact": lambda n: n,
    "windows": lambda n: "..\\..\\export\\" + n.replace("/", "\\"),
    "nfd": lambda n: unicodedata.normalize("NFD", n),
    "ext_case": lambda n: n[:-3] + n[-3:].swapcase(),
    "percent": lambda n: "/data/upload/" + quote(n),
    "missing": lambda n: "nowhere/zz.png",
}
# annotation kinds: the bbox written, and the box (x, y, w, h) it means in an 8x8 image;
# None for faults that leave the image unlabeled
KINDS = {
    "good": ([1, 1, 3, 2], (1.0, 1.0, 3.0, 2.0)),
    "strings": (["2", "0.5", "4", "3"], (2.0, 0.5, 4.0, 3.0)),
    "clipped": ([5, 6, 9, 9], (5.0, 6.0, 3.0, 2.0)),
    "zero_w": ([1, 1, 0, 2], None),
    "nan": ([1, "nan", 2, 2], None),
    "outside": ([9, 9, 2, 2], None),
    "no_bbox": (None, None),
    "unknown_cat": ([1, 1, 2, 2], None),
    "crowd": ([1, 1, 2, 2], None),
}

entries = st.lists(st.tuples(st.integers(0, len(FILES) - 1), st.sampled_from(sorted(NAME_FORMS)),
                             st.sampled_from(["int", "str", "shared"])),
                   min_size=1, max_size=5)
annotations = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(sorted(KINDS))),
                       max_size=10)


def _coco_file(entry_list, ann_list, with_annotations):
    images, ids = [], []
    for n, (f, form, id_form) in enumerate(entry_list):
        k = ids[-1] if id_form == "shared" and ids else n
        ids.append(k)
        images.append({"id": str(k) if id_form == "str" else k,
                       "file_name": NAME_FORMS[form](FILES[f])})
    anns = []
    for n, (e, kind) in enumerate(ann_list):
        a = {"id": n % 3, "image_id": ids[e] if e < len(ids) else 999,  # ids repeat
             "category_id": 5 if kind == "unknown_cat" else 1, "iscrowd": int(kind == "crowd")}
        if KINDS[kind][0] is not None:
            a["bbox"] = KINDS[kind][0]
        anns.append(a)
    coco = {"images": images, "categories": [{"id": 1, "name": "x"}]}
    if with_annotations:
        coco["annotations"] = anns
    return coco, ids


def _expected(coco, ids, entry_list, ann_list):
    """File -> the boxes the file gives it when it must be labeled, or None."""
    out = {}
    for f, name in enumerate(FILES):
        mine = [n for n, (g, form, _) in enumerate(entry_list) if g == f and form != "missing"]
        if not mine:
            continue
        own = [kind for e, kind in ann_list if e < len(ids) and ids[e] == ids[mine[0]]]
        ok = (len(mine) == 1 and ids.count(ids[mine[0]]) == 1 and "annotations" in coco
              and all(KINDS[k][1] is not None for k in own))
        out[name] = sorted(("x", *KINDS[k][1]) for k in own) if ok else None
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry_list=entries, ann_list=annotations, with_annotations=st.booleans())
def test_no_image_is_ever_labeled_with_fewer_boxes_than_its_file_gives_it(
        folder, entry_list, ann_list, with_annotations):
    coco, ids = _coco_file(entry_list, ann_list, with_annotations)
    expected = _expected(coco, ids, entry_list, ann_list)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "p", create=True) as store:
        (Path(tmp) / "c.json").write_text(json.dumps(coco))
        report = import_folder(store, folder, coco=Path(tmp) / "c.json")
        # every annotation record is counted once: imported, or not imported
        assert report.boxes_imported + report.boxes_rejected == len(coco.get("annotations", []))
        for item in store.items():
            name = unicodedata.normalize("NFC", item.file)
            if item.status == "labeled":
                assert expected.get(name) is not None, (name, report.problems)
                assert stored_boxes(store, item) == expected[name]
            elif name in expected:  # listed, unlabeled: named in the report with the reason
                assert expected[name] is None and item.file in report.unlabeled, name

        # the file fixed: one entry per image, every annotation readable
        fixed = {"images": [{"id": n, "file_name": name} for n, name in enumerate(FILES)
                            if name in expected],
                 "categories": coco["categories"], "annotations": []}
        for image in fixed["images"]:
            mine = {ids[n] for n, (g, form, _) in enumerate(entry_list)
                    if FILES[g] == image["file_name"] and form != "missing"}
            for e, kind in ann_list:
                if e < len(ids) and ids[e] in mine:
                    box = KINDS[kind][1] or KINDS["good"][1]
                    fixed["annotations"].append({"id": 1, "image_id": image["id"],
                                                 "category_id": 1, "bbox": list(box)})
        (Path(tmp) / "fixed.json").write_text(json.dumps(fixed))
        import_folder(store, folder, coco=Path(tmp) / "fixed.json")
        truth = pycocotools_boxes(Path(tmp) / "fixed.json")
        for image in fixed["images"]:
            item = next(i for i in store.items() if unicodedata.normalize(
                "NFC", i.file) == image["file_name"])
            assert item.status == "labeled"
            assert stored_boxes(store, item) == truth[image["id"]], image
