"""Files in and out: COCO and YOLO reading and writing, matching COCO file names to
images, import reports, copying image files into a project, and image decoding.

Owns: importing a folder or a COCO file (:mod:`al_core.formats.coco_import`, its COCO
reading in :mod:`~al_core.formats.coco_file` and writing in
:mod:`~al_core.formats.import_write`), exports (:mod:`al_core.formats.export`), image
decoding (:mod:`~al_core.formats.images`), and checked JSON input
(:mod:`~al_core.formats.json_input`).

May import: ``al_core.store`` and the root modules.
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
