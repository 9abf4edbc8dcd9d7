"""``simulate``: the whole loop headless with the ground truth as the oracle. From the
demo, or from images + COCO labels, where the test split's size is picked to fit."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from al_core.cli.console import json_arg
from al_core.formats.coco_import import ImportFailed, read_json
from al_core.formats.image_folder import check_importable
from al_core.formats.images import DEFAULT_MAX_PIXELS
from al_core.names import printable

DEFAULT_TEST_SIZE = 300
SMALL_TEST_SHARE = 0.2  # where 300 does not fit, the test split takes at most this share


def labeled_images(images: Path, coco: Path) -> int:
    """The images the COCO file lists that are in the folder (each becomes an oracle
    item; import still rejects unreadable ones). Raises ImportFailed (a ValueError) for
    a folder that is missing or holds no image import reads (saying what it holds; it
    was counted as "0 labeled images cannot hold the labels"), or an unusable COCO file."""
    if not images.is_dir():
        raise ImportFailed(f"images folder {printable(str(images), 160)} does not exist or "
                           "is not a folder")
    check_importable(images, max_pixels=DEFAULT_MAX_PIXELS)
    data = read_json(coco, "COCO file")
    listed = data.get("images") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        raise ValueError(f"COCO file {coco}: no \"images\" list")
    return sum(isinstance(i, dict) and isinstance(i.get("file_name"), str)
               and (images / i["file_name"]).is_file() for i in listed)


def resumed_test_size(out: Path) -> int | None:
    """The test size of the simulation already in ``out`` (a resumed run keeps it, even
    when --rounds grows), or None."""
    path = out / "settings.json"
    if not path.is_file():
        return None
    saved = read_json(path, "simulation settings", expect=dict)
    source = saved.get("source") if isinstance(saved, dict) else None
    return source.get("test_size") if isinstance(source, dict) and not source.get("demo") \
        else None


def fit_test_size(images: int, need: int, asked: int | None) -> int:
    """The frozen test split's size for ``images`` labeled images when the pool must
    hold ``need`` (``--initial + --rounds x --add``): ``asked`` when it fits, else
    300, or for a small dataset what fits (at most a fifth of the images)."""
    room = images - need  # what the pool can spare
    if room < 1:
        raise ValueError(f"{images} labeled images cannot hold the {need} labels the "
                         "simulation queries (--initial + --rounds x --add) and a test "
                         "split: lower --initial, --add or --rounds")
    if asked is not None:
        if asked > room:
            raise ValueError(f"--test-size {asked} does not fit: of {images} labeled "
                             f"images, {need} are queried (--initial + --rounds x --add); "
                             f"--test-size {room} or less would fit")
        return asked
    if DEFAULT_TEST_SIZE <= room:
        return DEFAULT_TEST_SIZE
    return max(1, min(room, int(images * SMALL_TEST_SHARE)))


def cmd_simulate(args) -> int:
    from al_core.simulation import simulate as sim
    from al_core.simulation.config import (DEFAULT_MIN_TRAIN_IMAGES, DEFAULT_TRAIN,
                                           FULL_DEFAULTS, QUICK_DEFAULTS, QUICK_TRAIN,
                                           SimConfig, Source)

    if bool(args.demo) == bool(args.images or args.coco):
        raise ValueError("give either --demo or both --images DIR and --coco ANN.json")
    if not args.demo and not (args.images and args.coco):
        raise ValueError("--images and --coco go together")
    quick = args.quick
    defaults = QUICK_DEFAULTS if quick else FULL_DEFAULTS
    train = dict(QUICK_TRAIN if quick else DEFAULT_TRAIN)
    train.update(json_arg(args.train_config, "--train-config") or {})
    if args.demo and args.test_size is not None:
        raise ValueError("--test-size goes with --coco; the demo's test split is fixed "
                         "(300 images; 80 with --quick)")

    def given(value, default):  # 0 is a value (refused by SimConfig), not "use the default"
        return default if value is None else value

    config = SimConfig(
        strategies=tuple(args.strategy or defaults["strategies"]),
        initial=given(args.initial, defaults["initial"]), add=given(args.add, defaults["add"]),
        rounds=given(args.rounds, defaults["rounds"]),
        seeds=given(args.seeds, defaults["seeds"]), train=train,
        initial_strategy=args.initial_strategy,
        min_train_images=given(args.min_train_images,
                               20 if quick else DEFAULT_MIN_TRAIN_IMAGES),
        query=json_arg(args.config, "--config") or {}, box_level=args.box_level,
        prelabel_threshold=args.prelabel_threshold)
    for flag, value in (("--demo-seed", args.demo_seed), ("--demo-kind", args.demo_kind)):
        if not args.demo and value is not None:
            raise ValueError(f"{flag} goes with --demo")
    test_size = DEFAULT_TEST_SIZE
    resumed = None if args.test_size is not None else resumed_test_size(args.out)
    if resumed is not None:
        test_size = resumed
    elif not args.demo:
        labeled = labeled_images(args.images, args.coco)
        test_size = fit_test_size(labeled, config.initial + config.rounds * config.add,
                                  args.test_size)
        if test_size != DEFAULT_TEST_SIZE and args.test_size is None:
            print(f"test split: {test_size} of the {labeled} labeled images (the default "
                  f"{DEFAULT_TEST_SIZE} does not fit; --test-size sets it)", file=sys.stderr)
    source = Source(demo=bool(args.demo), quick=quick, images=args.images, coco=args.coco,
                        test_size=test_size, demo_seed=given(args.demo_seed, 0),
                        demo_kind=given(args.demo_kind, "digits"))
    start = time.monotonic()
    curves = sim.simulate(args.out, source, config,
                          say=lambda line: print(printable(line, None), file=sys.stderr,
                                                 flush=True))
    summary = sim.summarize(curves)
    print(sim.format_table(summary))
    print(f"\n{args.out / 'curves.json'}, {args.out / 'curves.png'}, "
          f"{args.out / 'summary.json'} ({(time.monotonic() - start) / 60:.1f} min)")
    return 0
