"""The people of benchmarks/team_load.py: one annotator's or one reviewer's session, run in
a process of its own (its own SQLite connections), calling what the pages call.

Each action opens a new :class:`Store` acting as the session's user, as a page's callback
does (``ui.state.store()``), and is timed from that open to its end with
``time.perf_counter``. Every action, its outcome and its time go as one JSON line to the
session's record file, written before the next action starts, so a session that dies
still leaves what it did.

- An annotator is the Review page (``ui/review_nav.py``): **next** is ``claim_next`` (with
  the page session's history excluded, as ``advance`` passes it) and ``claim`` (its
  ``open_item``), then what the editor reads to show the image (the item, its boxes, the
  comments on it, the image file); after a think time, **save** is ``submit_review`` with
  the version opened (``expected_version``), or now and then **skip** is ``skip``. The
  boxes are the demo's hidden ground truth, perturbed (a person's slightly-off boxes);
  a returned image is fixed back to the truth. Every ``reload_every`` images the page is
  reloaded: the history starts again, so images returned to them come back (the page
  leaves out the images of its history, returned ones too).
- A reviewer is :mod:`al_core.review.reviewing`: ``review_queue``, then the first image
  in it with ``start_review`` and ``review_view`` (**open**), a think time, and
  ``decide`` (**decide**): approve, fix to the truth, or return with a comment pinned to
  a box.

A refusal a page words for its user as a race (``HeldError``, ``StaleLabelsError``,
``WorkflowError`` for an image another reviewer decided first) is recorded as a handled
race; any other exception is an error.
"""
from __future__ import annotations

import json
import random
import time
import traceback
from dataclasses import dataclass

from al_core.review.reviewing import Comment, comments, decide, review_queue, review_view, \
    start_review
from al_core.review.save import LEASE_SECONDS, HeldError, StaleLabelsError, clip_box, \
    submit_review
from al_core.store import Store
from al_core.types import LabeledBox
from al_core.workflow import WorkflowError

HANDLED = (HeldError, StaleLabelsError, WorkflowError)
IDLE_S = 0.5  # an empty queue: look again after this long


@dataclass(frozen=True)
class SessionSpec:
    """One person's session. ``think_s``: the seconds spent on an image, drawn uniformly;
    ``skip_share``: the chance an annotator skips an image; ``reload_every``: images
    between page reloads (annotators)."""

    project: str
    user: str
    role: str  # "annotator" or "reviewer"
    selection: str
    seconds: float
    record: str
    seed: int
    think_s: tuple[float, float] = (1.0, 3.0)
    skip_share: float = 0.05
    reload_every: int = 10
    decisions: tuple[float, float, float] = (0.6, 0.25, 0.15)  # approve, fix, return


def boxes_json(boxes: list[LabeledBox]) -> list[list[float]]:
    """``[[class_id, x1, y1, x2, y2], ...]``, the record's and the check's form."""
    return [[b.class_id, *b.box.as_list()] for b in boxes]


def perturbed(truth: list[LabeledBox], classes: list[int], width: int, height: int,
              rng: random.Random, *, jitter_px: float) -> list[LabeledBox]:
    """A person's boxes for ``truth``: each corner off by about ``jitter_px`` pixels, 1 in
    20 boxes missed, 1 in 20 in another class, 1 image in 20 with a stray extra box;
    clipped to the image as the save clips them (so what is recorded is what is stored)."""
    out = []
    for b in truth:
        if rng.random() < 0.05:
            continue
        cls = rng.choice(classes) if rng.random() < 0.05 else b.class_id
        coords = [round(v + rng.gauss(0.0, jitter_px), 2) for v in b.box.as_list()]
        out.append((cls, coords))
    if rng.random() < 0.05:
        x, y = rng.uniform(0, width - 12), rng.uniform(0, height - 12)
        out.append((rng.choice(classes), [round(x, 2), round(y, 2), round(x + 10, 2),
                                          round(y + 10, 2)]))
    return [LabeledBox(c, box) for c, coords in out
            if (box := clip_box(coords, width, height)) is not None]


class Recorder:
    """Appends one JSON line per action to the session's record file."""

    def __init__(self, spec: SessionSpec) -> None:
        self.spec = spec
        self.out = open(spec.record, "a", encoding="utf-8")

    def action(self, action: str, started: float, **fields) -> dict:
        row = {"user": self.spec.user, "role": self.spec.role, "action": action,
               "ms": (time.perf_counter() - started) * 1000.0, "at": time.time(),
               "ok": True, **fields}
        self.out.write(json.dumps(row) + "\n")
        self.out.flush()
        return row

    def failure(self, action: str, started: float, exc: BaseException, **fields) -> dict:
        return self.action(action, started, ok=False, handled=isinstance(exc, HANDLED),
                           error_type=type(exc).__name__, error=str(exc)[:500],
                           trace="" if isinstance(exc, HANDLED) else traceback.format_exc(),
                           **fields)

    def close(self) -> None:
        self.out.close()


def _store(spec: SessionSpec) -> Store:
    return Store(spec.project, actor=spec.user)


def _think(rng: random.Random, spec: SessionSpec) -> float:
    seconds = rng.uniform(*spec.think_s)
    time.sleep(seconds)
    return seconds


def run_session(spec: SessionSpec, ready, go, start_mono) -> None:
    """A process's target: say it is ready, wait for the common start, then act as
    ``spec.user`` until ``spec.seconds`` after it (finishing the image in hand)."""
    rng = random.Random(spec.seed)
    rec = Recorder(spec)
    with _store(spec) as s:  # what does not change during the run, read once
        sel = s.selection(spec.selection)
        classes = [c.id for c in s.classes()]
    ready.put(spec.user)
    go.wait()
    deadline = start_mono.value + spec.seconds
    try:
        if spec.role == "annotator":
            _annotate(spec, sel, classes, rng, rec, deadline)
        else:
            _review(spec, sel, rng, rec, deadline)
    except BaseException as exc:  # the session itself broke: that reaches the user too
        rec.failure("session", time.perf_counter(), exc)
        raise
    finally:
        rec.close()


# -- the annotator --------------------------------------------------------------------------
def _next_image(spec: SessionSpec, sel, hist: list[int], rec: Recorder) -> dict | None:
    """"Next": claim the next image and read what the editor shows; None when the
    queue has nothing for this page session (or the call failed, recorded)."""
    t0 = time.perf_counter()
    try:
        with _store(spec) as s:
            item_id = s.claim_next(sel.id, spec.user, seconds=LEASE_SECONDS, exclude=hist)
            claim_ms = (time.perf_counter() - t0) * 1000.0
            if item_id is None:
                rec.action("next", t0, item=None, claim_ms=claim_ms)
                return None
            other = s.claim(item_id, spec.user, seconds=LEASE_SECONDS)  # open_item
            if other is not None:
                raise HeldError(f"image #{item_id} is open for {other}")
            item = s.item(item_id)
            s.annotations([item_id])
            notes = comments(s, item_id, open_only=True)
            s.image_path(item).read_bytes()
            row = rec.action("next", t0, item=item_id, claim_ms=claim_ms,
                             version=item.label_version, comments=len(notes))
            truth = s.oracle_boxes([item_id])[item_id]  # the person's eyes: not timed
    except Exception as exc:  # noqa: BLE001 - recorded, the page words it
        rec.failure("next", t0, exc)
        return None
    return {**row, "width": item.width, "height": item.height, "truth": truth,
            "fixing": bool(notes)}


def _annotate(spec: SessionSpec, sel, classes: list[int], rng: random.Random,
              rec: Recorder, deadline: float) -> None:
    hist: list[int] = []
    opened = 0
    while time.monotonic() < deadline:
        if opened and opened % spec.reload_every == 0 and hist:
            hist = []  # the page reloaded: a new session, its history empty
        shown = _next_image(spec, sel, hist, rec)
        if shown is None:
            if hist:
                hist = []  # nothing left for this page: reload it
            else:
                time.sleep(IDLE_S)
            continue
        item_id = shown["item"]
        hist.append(item_id)
        opened += 1
        seconds = _think(rng, spec)
        t0 = time.perf_counter()
        if not shown["fixing"] and rng.random() < spec.skip_share:
            try:
                with _store(spec) as s:
                    s.skip(item_id, spec.user, selection_id=sel.id)
                rec.action("skip", t0, item=item_id)
            except Exception as exc:  # noqa: BLE001
                rec.failure("skip", t0, exc, item=item_id)
            continue
        boxes = perturbed(shown["truth"], classes, shown["width"], shown["height"], rng,
                          jitter_px=0.3 if shown["fixing"] else 1.5)
        try:
            with _store(spec) as s:
                result = submit_review(s, item_id, boxes, action="save", selection=sel,
                                       seconds=seconds, expected_version=shown["version"])
            rec.action("save", t0, item=item_id, version=result.label_version,
                       boxes=boxes_json(boxes), fix=shown["fixing"])
        except Exception as exc:  # noqa: BLE001
            rec.failure("save", t0, exc, item=item_id, fix=shown["fixing"])


# -- the reviewer ---------------------------------------------------------------------------
def _review(spec: SessionSpec, sel, rng: random.Random, rec: Recorder,
            deadline: float) -> None:
    approve, fix, _ = spec.decisions
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            with _store(spec) as s:
                queue = review_queue(s, selection_id=sel.id)
            rec.action("queue", t0, size=len(queue))
        except Exception as exc:  # noqa: BLE001
            rec.failure("queue", t0, exc)
            queue = []
        if not queue:
            time.sleep(IDLE_S)
            continue
        item_id = queue[0]["item_id"]
        t0 = time.perf_counter()
        try:
            with _store(spec) as s:
                start_review(s, item_id)
                view = review_view(s, item_id)
                rec.action("open_review", t0, item=item_id, version=view.label_version)
                truth = s.oracle_boxes([item_id])[item_id]  # the person's eyes: not timed
                item = s.item(item_id)
        except Exception as exc:  # noqa: BLE001
            rec.failure("open_review", t0, exc, item=item_id)
            continue
        seconds = _think(rng, spec)
        draw = rng.random()
        kind = (view.submission or {}).get("kind")
        decision = "approve" if kind == "fix" or draw < approve else \
            "fix" if draw < approve + fix else "return"
        fixed = [LabeledBox(b.class_id, c) for b in truth
                 if (c := clip_box(b.box.as_list(), item.width, item.height)) is not None]
        if decision == "fix" and fixed == view.boxes:
            decision = "approve"  # nothing to fix: decide() would call it an approval
        notes = [Comment("too loose, and check the class", 0 if view.boxes else None)] \
            if decision == "return" else []
        t0 = time.perf_counter()
        try:
            with _store(spec) as s:
                row = decide(s, item_id, decision, boxes=fixed if decision == "fix" else None,
                             comments=notes, seconds=seconds,
                             expected_version=view.label_version)
            rec.action("decide", t0, item=item_id, decision=row["decision"],
                       decision_id=row["id"], comments=len(notes),
                       version=view.label_version + (row["decision"] == "fix"),
                       boxes=boxes_json(fixed) if row["decision"] == "fix" else None)
        except Exception as exc:  # noqa: BLE001
            rec.failure("decide", t0, exc, item=item_id, decision=decision)
