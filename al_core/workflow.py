"""The review workflow of team mode: the states an image of a selection moves through and
the only moves allowed between them, in one table.

An image is *queued* in a selection's pool; a lead may *assign* it to an annotator; an
annotator *opens* it (pulled from the pool, assigned to them, or returned to them) and it is
*in progress*; on *submit* it waits for review (*submitted*) or, when the project's spot
check did not sample it, is *approved* as submitted; a reviewer *starts* a review (*in
review*) and *approves* it, *fixes and approves* it, or *returns* it to its annotator with
comments (*returned*); the annotator's fix goes back to the same reviewer. States follow
the anchors' (Label Studio Enterprise's submitted / accepted / rejected, Labelbox's to
label -> in review -> done or rework, CVAT's annotation / validation stages): see
docs/guide/workflow.md, whose diagram and table are checked against this module by a test.

:mod:`al_core.store.work` moves images only through :func:`check_move`; the permission of
each event is an action of :mod:`al_core.permissions`. A project with no users (single-user
mode) has no workflow: a saved label is a label, as before.
"""
from __future__ import annotations

from dataclasses import dataclass

STATES = ("queued", "assigned", "in_progress", "submitted", "in_review", "returned",
          "approved")

# (state, event) -> the states it may lead to. Where there are two, the store picks by the
# image's history (a released image goes back to whoever it belonged to) or the project's
# settings (the spot check, where skipped images go).
TRANSITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("queued", "assign"): ("assigned",),
    ("assigned", "unassign"): ("queued",),
    ("queued", "open"): ("in_progress",),
    ("assigned", "open"): ("in_progress",),
    ("returned", "open"): ("in_progress",),
    ("approved", "open"): ("in_progress",),  # changing approved labels: reviewed again
    ("submitted", "open"): ("in_progress",),  # its annotator takes it back before review
    # back to where it was opened from (an approved image left unchanged stays approved),
    # or a skipped one to the pool or its annotator (the project's skip_to)
    ("in_progress", "release"): ("queued", "assigned", "returned", "approved", "submitted"),
    ("in_progress", "skip"): ("queued", "assigned", "returned", "approved", "submitted"),
    ("in_progress", "submit"): ("submitted", "approved"),
    ("submitted", "start_review"): ("in_review",),
    ("in_review", "release_review"): ("submitted",),
    ("in_review", "approve"): ("approved",),
    ("in_review", "fix"): ("approved",),
    ("in_review", "return"): ("returned",),
}
# events that need no state before: labels a lead imports, or the demo's oracle, are approved
# as they are written (an image of no selection that has no workflow row yet is *queued*)
DIRECT = {"import": "approved"}

# event -> the permission action (al_core.permissions.ACTIONS) it needs
EVENT_ACTIONS = {
    "assign": "manage_work", "unassign": "manage_work",
    "open": "label", "release": "label", "skip": "label", "submit": "label",
    "start_review": "review", "release_review": "review", "approve": "review", "fix": "review",
    "return": "review", "import": "import",
}
# the states in which an image's labels wait for a reviewer (not trained on when only
# approved labels train)
WAITING = ("submitted", "in_review", "returned")
# states in which the image belongs to an annotator (their queue, their cap)
HELD = ("assigned", "in_progress", "returned")


class WorkflowError(Exception):
    """A move the workflow does not allow (approving an image nobody submitted, opening an
    image another annotator was assigned, a reviewer judging their own labels). The
    message names the image, its state and what would be allowed."""


def check_move(item_id: int, state: str, event: str, target: str) -> str:
    """``target`` when the table allows ``event`` to take an image in ``state`` there;
    else :class:`WorkflowError` naming the image, its state and the events it allows."""
    if event in DIRECT and DIRECT[event] == target:
        return target
    allowed = TRANSITIONS.get((state, event))
    if allowed is None or target not in allowed:
        events = sorted({e for (s, e) in TRANSITIONS if s == state})
        raise WorkflowError(
            f"image #{item_id} is {state.replace('_', ' ')}: '{event}' cannot take it to "
            f"{target.replace('_', ' ')} (from {state.replace('_', ' ')} the workflow "
            f"allows: {', '.join(events) or 'nothing'})")
    return target


# how a refusal says whose an image is, by its state: "image #5 {phrase} ana"
_WHOSE = {"assigned": "is assigned to", "in_progress": "is open for",
          "returned": "was returned to", "in_review": "is in review with"}


def whose(item_id: int, state: str, person: str) -> str:
    """``'image #5 was submitted by ana and waits for review'``: a refusal's reason
    when ``person`` has the image in ``state``."""
    if state == "submitted":
        return f"image #{item_id} was submitted by {person} and waits for review"
    return f"image #{item_id} {_WHOSE.get(state, 'is held by')} {person}"


class CapReached(WorkflowError):
    """The annotator holds as many images as the project's cap allows."""


def diagram() -> str:
    """The state diagram as text, one line per move: ``state --event--> state``."""
    lines = []
    for (state, event), targets in TRANSITIONS.items():
        for target in targets:
            lines.append(f"{state:<12} --{event}--> {target}")
    for event, target in DIRECT.items():
        lines.append(f"{'(any)':<12} --{event}--> {target}")
    return "\n".join(lines)


def transition_table_markdown() -> str:
    """The moves as a Markdown table with the permission each needs (the docs' copy is
    checked against this)."""
    from al_core.permissions import who_may  # root module, no cycle at import time
    lines = ["| from | event | to | who |", "|---|---|---|---|"]
    for (state, event), targets in TRANSITIONS.items():
        lines.append(f"| {state} | `{event}` | {' or '.join(targets)} | "
                     f"{who_may(EVENT_ACTIONS[event])} |")
    for event, target in DIRECT.items():
        lines.append(f"| (any) | `{event}` | {target} | {who_may(EVENT_ACTIONS[event])} |")
    return "\n".join(lines)


SKIP_TO = ("pool", "me")


@dataclass(frozen=True)
class WorkflowSettings:
    """A project's workflow settings (a lead's, ``manage_work``).

    ``review_share``: the share of each annotator's first submissions sent to review, drawn
    at random per submission (a spot check: 1.0 reviews everything, 0.1 one in ten; the rest
    are approved as submitted); a fix of a returned image is always reviewed.
    ``cap``: the most images an annotator may hold (assigned, in progress, returned to
    them) before pulling another from the pool. ``skip_to``: where a skipped image goes,
    back to the ``pool`` or to the same annotator again (``me``). ``gold_rate``: the chance
    that an annotator's next pulled image is a gold image they have not answered yet.
    ``approved_only``: only approved labels train models (team mode's default)."""

    review_share: float = 1.0
    cap: int = 20
    skip_to: str = "pool"
    gold_rate: float = 0.1
    approved_only: bool = True

    def __post_init__(self) -> None:
        for name in ("review_share", "gold_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be a number from 0 to 1, not {value!r}")
        if isinstance(self.cap, bool) or not isinstance(self.cap, int) \
                or not 1 <= self.cap <= 10_000:
            raise ValueError(f"cap must be a whole number from 1 to 10000, not {self.cap!r}")
        if self.skip_to not in SKIP_TO:
            raise ValueError(f"skip_to must be one of {', '.join(SKIP_TO)}, "
                             f"not {self.skip_to!r}")
        if not isinstance(self.approved_only, bool):
            raise ValueError(f"approved_only must be true or false, not {self.approved_only!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "WorkflowSettings":
        """Settings from stored or given values; ValueError naming an unknown key."""
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown workflow setting {unknown[0]!r}; settings: "
                             f"{', '.join(cls.__dataclass_fields__)}")
        return cls(**values)
