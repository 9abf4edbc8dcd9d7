"""CLI commands of team mode's review workflow (:mod:`al_core.workflow`): ``workflow``
(the project's settings, shown or set), ``assign`` and ``unassign`` (a lead's tasks),
``gold`` (add, remove, list gold images) and ``work`` (each selection's images by state).

They act as ``--as NAME`` / ``$ALS_USER`` like every command; who may do what is
:mod:`al_core.permissions`, checked by the store (``manage_work`` for every change, the
reads open to anyone but the gold list, which is a reviewer's or lead's).
"""
from __future__ import annotations

import json

from al_core.cli.console import open_store
from al_core.decide.retrain import labels_waiting_for_review, waiting_sentence
from al_core.formats.import_report import plural
from al_core.names import printable
from al_core.workflow import STATES

# setting -> what it means, in the order `workflow` shows them (docs/guide/workflow.md)
SETTING_MEANINGS = {
    "review_share": "the share of first submissions sent to review (a spot check)",
    "cap": "the most images an annotator holds before the pool stops serving them",
    "skip_to": "where a skipped image goes: the pool, or back to its annotator (me)",
    "gold_rate": "the chance that an annotator's next pulled image is a gold image",
    "approved_only": "only approved labels train models",
}
SINGLE_USER_NOTE = ("single-user mode: no review workflow, a saved label is a label (the "
                    "settings apply once `users add` turns team mode on)")


def _shown(value) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else f"{value}"


def _changes(args) -> dict:
    """The settings ``workflow set`` was given, as WorkflowSettings names them."""
    given = {"review_share": args.review_share, "cap": args.cap, "skip_to": args.skip_to,
             "gold_rate": args.gold_rate,
             "approved_only": None if args.approved_only is None
             else args.approved_only == "yes"}
    return {key: value for key, value in given.items() if value is not None}


def cmd_workflow(args) -> int:
    store = open_store(args)
    changes = _changes(args)
    if args.action == "show":
        if changes:
            raise ValueError("`workflow` only shows the settings: `workflow set "
                             + " ".join(f"--{k.replace('_', '-')} ..." for k in changes)
                             + "` changes them")
        settings = store.workflow_settings()
        if args.json:
            print(json.dumps(settings.__dict__))
            return 0
        for key, meaning in SETTING_MEANINGS.items():
            print(f"{key:<14} {_shown(getattr(settings, key)):<6} {meaning}")
        if not store.team_mode():
            print(SINGLE_USER_NOTE)
        return 0
    if not changes:
        raise ValueError("`workflow set` changes nothing without a setting: give "
                         + ", ".join(f"--{k.replace('_', '-')}" for k in SETTING_MEANINGS))
    before = store.workflow_settings()
    after = store.set_workflow_settings(**changes)
    for key in changes:
        old, new = _shown(getattr(before, key)), _shown(getattr(after, key))
        print(f"{key}: {old} -> {new}" if old != new else f"{key}: already {new}")
    if not store.team_mode():
        print(SINGLE_USER_NOTE)
    return 0


def _names(text: str) -> list[str]:
    """``'ana, bo'`` -> ``['ana', 'bo']``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_assign(args) -> int:
    store = open_store(args)
    selection = store.selection(args.selection)  # KeyError naming the selections
    tasks = store.assign(selection.id, _names(args.to), size=args.size, item_ids=args.items)
    tag = printable(selection.tag, 60)
    if not tasks:
        print(f"selection {tag} has no queued image to hand out: nothing was assigned")
        return 0
    for task in tasks:
        print(f"task #{task['id']}: {plural(task['size'], 'image')} of {tag} to "
              f"{printable(task['annotator'], 60)}")
    total = sum(task["size"] for task in tasks)
    print(f"assigned {plural(total, 'image')} in {plural(len(tasks), 'task')}")
    return 0


def cmd_unassign(args) -> int:
    store = open_store(args)
    moved = store.unassign(args.items)
    print(f"{plural(moved, 'assigned image')} back in the pool")
    left = len(set(args.items)) - moved
    if left:
        print(f"{plural(left, 'image')} of those given {'was' if left == 1 else 'were'} not "
              "assigned (opened, labeled or never handed out): left as they are")
    return 0


def _were(n: int) -> str:
    return f"{n} {'was' if n == 1 else 'were'}"


def cmd_gold_add(args) -> int:
    store = open_store(args)
    ids = list(dict.fromkeys(args.ids))
    changed = store.set_gold(ids, True)
    print(f"marked {plural(changed, 'gold image')}"
          + (f" ({_were(len(ids) - changed)} already)" if changed < len(ids) else ""))
    return 0


def cmd_gold_remove(args) -> int:
    store = open_store(args)
    ids = list(dict.fromkeys(args.ids))
    changed = store.set_gold(ids, False)
    print(f"unmarked {plural(changed, 'gold image')}"
          + (f" ({_were(len(ids) - changed)} not gold)" if changed < len(ids) else ""))
    return 0


def cmd_gold_list(args) -> int:
    """A reviewer's or lead's read (``team_stats``): an annotator must not learn which
    images are gold."""
    store = open_store(args)
    store.authorize("team_stats")
    ids = sorted(store.gold_ids())
    if args.json:
        print(json.dumps(ids))
    else:
        print(plural(len(ids), "gold image") + (": " + ", ".join(map(str, ids)) if ids else ""))
    return 0


def cmd_work(args) -> int:
    """Each selection's images by workflow state; a read open to anyone (as ``status``)."""
    store = open_store(args)
    tags = [args.selection] if args.selection else [s.tag for s in store.selections()]
    ids = {store.selection(tag).id: tag for tag in tags}  # KeyError naming the selections
    rows = [(tag, store.work_counts(selection_id)) for selection_id, tag in ids.items()]
    waiting = labels_waiting_for_review(store)
    if args.json:
        print(json.dumps({"selections": [{"selection": tag, "states": counts}
                                         for tag, counts in rows],
                          "waiting_for_review": waiting}))
        return 0
    if not rows:
        print("no selection yet: `query` makes one")
        return 0
    print(f"{'selection':<24}" + "".join(f"{state:>12}" for state in STATES))
    for tag, counts in rows:
        print(f"{printable(tag, 22):<24}" + "".join(f"{counts[s]:>12}" for s in STATES))
    for task in store.tasks():
        if task["selection_id"] in ids:
            print(f"task #{task['id']}: {plural(task['size'], 'image')} of "
                  f"{printable(ids[task['selection_id']], 60)} to "
                  f"{printable(task['annotator'], 60)} ({task['created']})")
    if waiting:
        print(waiting_sentence(waiting))
    if not store.team_mode():
        print(SINGLE_USER_NOTE)
    return 0

