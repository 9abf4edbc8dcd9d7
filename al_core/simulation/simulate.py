"""The oracle simulation: the whole active-learning loop headless, with the ground truth
answering as the annotator, to measure label efficiency honestly.

For every strategy and seed, a copy of one base project (same frozen test set, same
pool) goes round by round: select, label from the oracle, split into train/val, train
a new model with the same budget, evaluate it on the test split, make it active. Round 0
picks the initial set with the same cold-start strategy for every strategy, so the
curves differ only by what each strategy queries.

Everything is on disk under ``out``: ``base/`` (the project every seed copies),
``seeds/seed-<s>/`` (round 0 of a seed), ``runs/<strategy>/seed-<s>/`` (each run's
project, a copy of its seed's round 0), ``curves.json`` (rewritten after
every round, so an interrupted simulation resumes where it stopped), ``curves.png`` and
``summary.json`` (label savings vs random).
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from al_core.formats.json_input import read_json_file
from al_core.formats.staging import staged_folder
from al_core.simulation import box_level
from al_core.simulation.config import Say, SimConfig, Source
from al_core.simulation.results import (format_table, labels_to_reach, mean_curve, plot_curves,
                                        summarize)
from al_core.store import DB_NAME, Store

log = logging.getLogger(__name__)

# -- the base project -----------------------------------------------------------

def make_base(path: Path, source: Source, *, say: Say = print) -> None:
    """Create the base project (once; an existing complete one is reused)."""
    if (path / DB_NAME).exists():
        return
    if source.demo:
        from al_core.simulation.demo import create_demo_project

        config = source.demo_config()
        say(f"creating the {source.demo_kind} demo base project ({config.n_images} images)")
        create_demo_project(path, config).close()
        return
    _base_from_coco(path, source, say)


def _base_from_coco(path: Path, source: Source, say: Say) -> None:
    from al_core.formats.coco_import import import_folder
    from al_core.formats.import_report import plural
    from al_core.training.split import freeze_test

    with staged_folder(path) as staging, Store(staging, create=True) as store:
        say(f"importing {source.coco} with the images in {source.images}")
        report = import_folder(store, source.images, coco=source.coco)
        say(report.summary())
        for problem in report.problems[:20]:
            say(f"  {problem}")
        dropped = store.drop_unlabeled_items()  # no ground truth to answer with
        if dropped:
            say(f"{plural(len(dropped), 'image')} the file does not label whole "
                f"{'is' if len(dropped) == 1 else 'are'} left out of the simulation "
                f"(first: {', '.join(dropped[:3])})")
        moved = store.move_labels_to_oracle()
        if moved < source.test_size + 2:
            raise ValueError(f"{source.coco} labels {moved} usable images; the simulation "
                             f"needs more than the test split ({source.test_size})")
        rng = np.random.default_rng(0)
        ids = [i.id for i in store.items()]
        test = sorted(rng.choice(ids, source.test_size, replace=False).tolist())
        store.label_from_oracle(test, round=0)
        store.set_splits({i: "test" for i in test})
        freeze_test(store)


def _copy_project(base: Path, target: Path) -> Path:
    """A run's own copy of the base project, made atomically."""
    if (target / DB_NAME).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with staged_folder(target) as staging:
        shutil.copytree(base, staging, ignore=shutil.ignore_patterns("jobs"),
                        copy_function=_link_images(base))
    return target


def _link_images(base: Path) -> Callable[[str, str], object]:
    """Copy files, but hard-link the images (never written after import) where the file
    system allows, so 16 runs of a project do not hold 16 copies of its images."""
    images = (base / "images").resolve()

    def copy(src: str, dst: str) -> object:
        if Path(src).resolve().is_relative_to(images):
            try:
                os.link(src, dst)
                return dst
            except OSError:
                pass  # another file system, or links not allowed: copy
        return shutil.copy2(src, dst)
    return copy


# -- one run --------------------------------------------------------------------

def _round_tag(r: int) -> str:
    return f"sim-round-{r}"


def run_round(store: Store, r: int, strategy: str, seed: int, config: SimConfig,
              say: Say) -> dict:
    """Select (unless this round's selection exists: a resumed run), label from the
    oracle, split, train, evaluate; returns the curve point."""
    from al_core.evaluation.model_eval import evaluate_model
    from al_core.query.round import QuerySpec, run_query
    from al_core.query.strategies import COLD_START_STRATEGY
    from al_core.training.candidates import create_candidate
    from al_core.training.prediction import predict_items
    from al_core.training.split import split_project
    from al_core.training.train_job import train_model

    tag = _round_tag(r)
    if tag not in {s.tag for s in store.selections()}:
        name = (config.initial_strategy or COLD_START_STRATEGY) if r == 0 else strategy
        spec = QuerySpec(strategy=name, add=config.initial if r == 0 else config.add,
                         random_control=0.0, seed=seed * 1000 + r, tag=tag,
                         options={} if r == 0 else dict(config.query))
        run_query(store, spec)
    ids = [i.item_id for i in store.selection(tag).items]
    cost = _round_cost(store, r, strategy, seed, ids, threshold=config.prelabel_threshold)
    unlabeled = [i.id for i in store.items(ids=ids) if i.status != "labeled"]
    if not (config.box_level and r > 0 and box_level.label_round(
            store, r, tag, unlabeled, threshold=config.prelabel_threshold)):
        store.label_from_oracle(unlabeled, round=r)
    if config.box_level and (figures := box_level.round_figures(store, r)) is not None:
        saved = None if None in (cost["seconds"], figures["seconds"]) else \
            round(cost["seconds"] - figures["seconds"], 1)
        cost = {**cost, **figures, "seconds_whole_review": cost["seconds"],
                "seconds_saved": saved}
    split_project(store, seed=seed * 1000 + r)
    labeled = len(store.training_labeled_ids())
    # epochs from the labeled count (the same for every strategy at this round), not
    # from the train split, which the stratified split may vary by an item
    epochs = max(int(config.train.get("epochs", 1)),
                 math.ceil(config.min_train_images / max(labeled, 1)))
    name = _model_name(strategy, seed, r)
    done = [m for m in store.models() if m["name"] == name and m["status"] == "active"]
    start = time.monotonic()
    if done:  # trained and made active before an interruption: never train a round twice
        model_id = done[0]["id"]
    else:
        # patience 0: every round trains its full epochs, as before the product's
        # default stopped on a val plateau (a --train-config may still set it)
        # fit_to_data False: the simulation sets each round's budget itself (SimConfig)
        model_id = create_candidate(store, override={"patience": 0, **config.train,
                                                     "epochs": epochs, "seed": seed}, name=name,
                                    fit_to_data=False)
        train_model(store, model_id, log_line=lambda line: say(f"  {line}")
                    if line.startswith("warm start:") and r > 0 else None)
    test_ids, _ = store.test_set_identity()
    if store.items_without_embedding(model_id, test_ids):
        predict_items(store, model_id, test_ids)
    result, _ = evaluate_model(store, model_id)
    if not done:
        store.apply_decision(model_id, "update_model")
    val = store.model(model_id)["metrics"].get("val_map50", float("nan"))
    say(f"  round {r}: {labeled} labeled, test mAP50 {result.map:.3f} "
        f"(val {val:.3f}, {time.monotonic() - start:.0f}s)")
    return {"labeled": labeled, "map50": round(float(result.map), 5), **cost}


def _model_name(strategy: str, seed: int, r: int) -> str:
    return f"{'initial' if r == 0 else strategy}-s{seed}-r{r}"


def _round_cost(store: Store, r: int, strategy: str, seed: int, ids: list[int], *,
                threshold: str = "fixed") -> dict:
    """The boxes, corrections (:mod:`al_core.review.corrections`) and estimated annotator
    seconds (:mod:`al_core.review.effort`) that labeling the round's selection costs against
    the pre-labels of the model that selected it (the previous round's; none at round 0:
    every box is drawn), summed with the earlier rounds'. Pre-labels are shown at the
    fixed default, or with ``threshold="model"`` at the model's own
    (:func:`round_threshold`; then ``corrections_fixed`` and ``seconds_fixed`` are the
    same at the fixed one, and ``threshold`` this round's model-wide value). Each round's
    figures are kept in the project's meta, so a resumed run counts them once."""
    from al_core.review.corrections import prelabel_corrections, summed_changes
    from al_core.review.effort import counts_from_dict, published_model
    from al_core.training.prediction import predict_items

    key = f"sim-cost-round-{r}"
    if store.get_meta(key) is None:
        truth = store.oracle_boxes(ids)
        previous = [m for m in store.models()
                    if m["name"] == _model_name(strategy, seed, r - 1) and m["checkpoint_path"]]
        rows: dict[int, list[dict]] = {i: [] for i in ids}
        chosen = None
        if r > 0 and previous:
            model_id = previous[0]["id"]
            missing = store.items_without_embedding(model_id, ids)
            if missing:  # a strategy that needed no prediction of these (random)
                predict_items(store, model_id, missing)
            for row in store.predictions(model_id, ids):
                rows[row["item_id"]].append(row)
            if threshold == "model":
                chosen = round_threshold(store, model_id)
        changes = summed_changes(prelabel_corrections(rows[i], truth[i]) for i in ids)
        figures = {"boxes": sum(len(b) for b in truth.values()),
                   "corrections": changes.corrections, "images": len(ids),
                   "changes": changes.as_dict()}
        if threshold == "model":  # counted at the model's threshold, the fixed one kept
            at = summed_changes(prelabel_corrections(rows[i], truth[i], min_score=chosen)
                                for i in ids) if chosen is not None else changes
            figures = {**figures, "corrections": at.corrections, "changes": at.as_dict(),
                       "fixed": {"corrections": changes.corrections,
                                 "changes": changes.as_dict()},
                       "threshold": None if chosen is None else {
                           "threshold": float(chosen), "per_class": {
                               str(c): t for c, t in chosen.per_class.items()}}}
        store.set_meta(key, json.dumps(figures))
    rounds = [json.loads(store.get_meta(f"sim-cost-round-{k}") or "null") for k in range(r + 1)]
    if any(c is None for c in rounds):  # a run made before costs were counted
        return {"boxes": None, "corrections": None, "seconds": None}
    cost = {unit: sum(c[unit] for c in rounds) for unit in ("boxes", "corrections")}
    if any("changes" not in c for c in rounds):  # a run made before seconds were estimated
        return {**cost, "seconds": None}
    model = published_model()  # the oracle has no real seconds: the published constants

    def seconds(figures: list[dict]) -> float:
        return round(sum(model.seconds(counts_from_dict(c["changes"]), c["images"])
                         for c in figures), 1)
    cost["seconds"] = seconds(rounds)
    if threshold == "model" and all("fixed" in c for c in rounds):
        fixed = [c["fixed"] | {"images": c["images"]} for c in rounds]
        cost |= {"corrections_fixed": sum(c["corrections"] for c in fixed),
                 "seconds_fixed": seconds(fixed),
                 "threshold": (rounds[-1]["threshold"] or {}).get("threshold")}
    return cost


def round_threshold(store: Store, model_id: int):
    """The pre-label threshold chosen for ``model_id`` on the project's current
    validation images (the ones it was trained with: a round splits after labeling),
    predicting them first where it has not (:mod:`al_core.review.prelabel_threshold`);
    a :class:`~al_core.review.prelabel_threshold.MinScore`."""
    from al_core.review.auto_accept import predict_validation
    from al_core.review.prelabel_threshold import prelabel_threshold

    predict_validation(store, model_id)
    return prelabel_threshold(store, model_id).min_score()


# -- the whole simulation ---------------------------------------------------------

def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


SETTINGS_FORMAT = 2  # raised when what settings.json records changes


def _settings(config: SimConfig, source: Source) -> dict:
    """What must not change between a run and its resumption: strategies may be added and
    rounds appended (every round only depends on the ones before it). The query options
    are recorded as resolved, so a changed default is not mixed into a resumed run."""
    from al_core.query.strategies import check_options

    settings = {k: v for k, v in asdict(config).items() if k not in ("strategies", "rounds")}
    if not config.box_level:  # a run from before box-level review resumes as it was
        del settings["box_level"]
    if config.prelabel_threshold == "fixed":  # and one from before the chosen threshold
        del settings["prelabel_threshold"]
    settings["query"] = check_options(config.query)
    return json.loads(json.dumps({"format": SETTINGS_FORMAT, **settings,
                                  "source": source.describe()}))


def _differences(saved, wanted, where: str = "") -> list[str]:
    """``key: saved there, wanted here`` for every leaf that differs."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return [d for k in sorted(set(saved) | set(wanted), key=str)
                for d in _differences(saved.get(k), wanted.get(k), f"{where}{k}.")]
    return [] if saved == wanted else [f"{where[:-1]}: {saved!r} there, {wanted!r} now"]


def load_curves(out: Path, config: SimConfig, source: Source) -> dict:
    """The curves so far; a folder holding a simulation with other settings is refused
    (whether or not it got as far as writing curves), not mixed in."""
    saved_path = out / "settings.json"
    if saved_path.exists():
        saved = read_json_file(saved_path, "simulation settings", expect=dict)
        if saved.get("format") != SETTINGS_FORMAT:
            raise ValueError(f"{out} holds a simulation made by an older version of simulate "
                             "(other defaults or another demo); use a new --out folder")
        wanted = _settings(config, source)
        if saved != wanted:
            raise ValueError(f"{out} holds a simulation with other settings ("
                             + "; ".join(_differences(saved, wanted)) + "); use a new --out "
                             "folder, or the same settings to resume it (a changed default "
                             "of this version counts too)")
    elif any(p.name not in ("base", ".base.partial") for p in out.iterdir()):
        raise ValueError(f"{out} is not empty and holds no simulation; use a new --out folder")
    path = out / "curves.json"
    return read_json_file(path, "simulation curves", expect=dict) if path.exists() \
        else {"strategies": {}}


def _check_pool(out: Path, config: SimConfig) -> None:
    with Store(out / "base") as base:
        pool = len(base.query_pool())
    need = config.initial + config.rounds * config.add
    if need > pool:
        raise ValueError(f"--initial {config.initial} + --rounds {config.rounds} x --add "
                         f"{config.add} = {need} labels, but the pool holds only {pool} "
                         "unlabeled images")


def simulate(out: Path, source: Source, config: SimConfig, *, say: Say = print) -> dict:
    """Run (or resume) every strategy x seed; returns the curves (also in curves.json)."""
    from al_core.training.loop import use_allowed_cpus

    out.mkdir(parents=True, exist_ok=True)
    curves = load_curves(out, config, source)
    _write_json(out / "settings.json", _settings(config, source))
    use_allowed_cpus()
    make_base(out / "base", source, say=say)
    _check_pool(out, config)
    for name in config.strategies:  # the ones this run would continue
        for seed in range(config.seeds):
            points = curves["strategies"].get(name, {}).get("seeds", {}).get(str(seed), [])
            # a round's point means nothing without the project that holds its labels
            if len(points) > 1 and not (out / "runs" / name / f"seed-{seed}" / DB_NAME).exists():
                say(f"{name} seed {seed}: its run folder is missing; redoing its rounds "
                    f"1-{len(points) - 1}")
                del points[1:]
    total = config.seeds * (1 + len(config.strategies) * config.rounds)
    done = sum((out / "seeds" / f"seed-{seed}.json").exists() for seed in range(config.seeds)) \
        + sum(max(0, min(len(curves["strategies"].get(name, {}).get("seeds", {})
                             .get(str(seed), [])), config.rounds + 1) - 1)
              for name in config.strategies for seed in range(config.seeds))
    resumed_at, started = done, time.monotonic()

    def announce(what: str) -> None:
        trained = done - resumed_at
        eta = (time.monotonic() - started) / trained * (total - done) if trained else None
        say(f"[{done + 1}/{total}] {what}" + (f" (ETA {eta / 60:.0f} min)" if eta else ""))

    for seed in range(config.seeds):
        first_file = out / "seeds" / f"seed-{seed}.json"
        if not first_file.exists():
            announce(f"seed {seed} round 0 (shared by every strategy)")
            with Store(_copy_project(out / "base", out / "seeds" / f"seed-{seed}")) as store:
                _write_json(first_file, run_round(store, 0, "initial", seed, config, say))
            done += 1
        first = read_json_file(first_file, "simulation round 0", expect=dict)
        for strategy in config.strategies:
            points = curves["strategies"].setdefault(strategy, {"seeds": {}})["seeds"] \
                .setdefault(str(seed), [])
            if not points:
                points.append(first)
            if len(points) > config.rounds:
                continue
            run_dir = _copy_project(out / "seeds" / f"seed-{seed}",
                                    out / "runs" / strategy / f"seed-{seed}")
            with Store(run_dir) as store:
                for r in range(len(points), config.rounds + 1):
                    announce(f"{strategy} seed {seed} round {r}")
                    points.append(run_round(store, r, strategy, seed, config, say))
                    _write_json(out / "curves.json", curves)
                    done += 1
    _write_json(out / "curves.json", curves)
    summary = summarize(curves)
    _write_json(out / "summary.json", summary)
    plot_curves(curves, out / "curves.png")
    return curves
