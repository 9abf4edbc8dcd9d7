"""An import says what it found (issue 24, kind 9): a folder holding only GIFs was
imported as "0 of 0 images imported, 0 problems", exit 0, into a new empty project.
Also: the hidden run-job command showed in --help as ==SUPPRESS==."""
import pytest
from streamlit.testing.v1 import AppTest

from al_core.cli import build_parser, main
from tests.apptest import read
from tests.coco_cases import tiny_image
from tests.datasets import write_dataset
from tests.test_app import APP

READS = "import reads .jpeg .jpg .png .webp; nothing was imported"


def _gifs(folder):
    for rel in ("a.gif", "b.GIF", "sub/c.gif", "notes.txt"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"GIF89a")
    return folder


@pytest.mark.parametrize("make, found", [
    (_gifs, "found 4 files (3 .gif, 1 .txt), none of them an image type this reads; "),
    (lambda folder: folder, "found no file (subfolders searched too); "),
])
def test_a_folder_without_an_image_type_it_reads_is_refused_and_creates_nothing(
        tmp_path, capsys, make, found):
    folder = tmp_path / "in"
    folder.mkdir()
    make(folder)
    assert main(["import", "--project", str(tmp_path / "p"), "--images", str(folder)]) == 2
    assert capsys.readouterr().err == f"error: images folder {folder}: {found}{READS}\n"
    assert not (tmp_path / "p").exists()


def test_a_folder_of_unreadable_images_is_refused_naming_each_reason(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"junk")
    (folder / "b.png").write_bytes(b"")
    assert main(["import", "--project", str(tmp_path / "p"), "--images", str(folder)]) == 2
    assert capsys.readouterr().err == (
        f"error: images folder {folder}: none of its 2 image files can be read (a.jpg: not a "
        "readable image (unknown or corrupt format); b.png: the file is empty); nothing was "
        "imported\n")
    assert not (tmp_path / "p").exists()
    tiny_image(folder / "c.png", size=(8, 8))  # one readable image is enough to go ahead
    assert main(["import", "--project", str(tmp_path / "p"), "--images", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("  - a.jpg: skipped, not a readable image") and "1 of 3 images " \
        "imported, 0 labeled;" in out and out.endswith(", 2 problems.\n")


def test_an_existing_project_is_left_unchanged(tmp_path, store, capsys):
    write_dataset(tmp_path / "imgs", 3)
    assert main(["import", "--project", str(store.root), "--images",
                 str(tmp_path / "imgs")]) == 0
    capsys.readouterr()
    before = (store.count_items(), sorted(p.name for p in store.images_dir.rglob("*")))
    assert main(["import", "--project", str(store.root), "--images",
                 str(_gifs(tmp_path / "gifs"))]) == 2
    assert "found 4 files (3 .gif, 1 .txt)" in capsys.readouterr().err
    assert (store.count_items(), sorted(p.name for p in store.images_dir.rglob("*"))) == before


def test_the_project_page_says_what_the_folder_holds(store, tmp_path, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(store.root))
    monkeypatch.setenv("ALS_DATA_ROOTS", str(tmp_path))
    folder = _gifs(tmp_path / "gifs")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[1].input(str(folder))
    at.button(key="FormSubmitter:import-Import").click().run()
    assert not at.exception, at.exception
    assert [read(e.value) for e in at.error] == [
        f"Nothing was imported: images folder {folder}: found 4 files (3 .gif, 1 .txt), none "
        f"of them an image type this reads; {READS}"]
    assert not at.success and store.count_items() == 0
    assert not any(store.images_dir.rglob("*"))

def test_the_hidden_run_job_command_is_not_listed_but_still_runs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "SUPPRESS" not in out and "run-job" not in out and "eval-coco" in out
    args = build_parser().parse_args(["run-job", "--project", "p", "--job", "3"])
    assert (args.job, args.fn.__name__) == (3, "cmd_run_job")


def test_simulate_on_a_folder_without_images_says_what_it_holds(tmp_path, capsys):
    """It said "0 labeled images cannot hold the 13 labels the simulation queries"."""
    from tests.datasets import write_json

    coco = write_json(tmp_path / "c.json", {"images": [{"id": 1, "file_name": "a.gif"}],
                                            "annotations": [], "categories": []})
    for folder, said in [(_gifs(tmp_path / "gifs"), "found 4 files (3 .gif, 1 .txt)"),
                         (tmp_path / "nope", "does not exist or is not a folder")]:
        assert main(["simulate", "--images", str(folder), "--coco", str(coco), "--quick",
                     "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: images folder {folder}") and said in err, err
    assert not (tmp_path / "out").exists()
