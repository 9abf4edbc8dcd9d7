"""Who may do what: the one permission table of team mode.

A project with no users is in single-user mode: whoever runs the app or the command line
may do everything (the demo, one person on a laptop). Adding the first user turns team
mode on; from then on every operation that changes the project names an acting user
(the signed-in person in the app, ``--as NAME`` on the command line, the requester in a
job's process), and :meth:`al_core.store.Store.authorize` refuses an action whose role
is not in :data:`PERMISSIONS` with :class:`PermissionDenied`. The pages and the CLI only
call that check; they never decide on their own, and hiding a button is never the
check. docs/guide/team.md shows this table (a test keeps the two the same).

Roles, as the anchors name them (Label Studio Enterprise, CVAT, Dataloop): an
``annotator`` labels the images handed to them; a ``reviewer`` also judges others'
labels and sees the project's figures; a ``lead`` may do everything, including users and
roles. The first user of a project is a lead.
"""
from __future__ import annotations

ROLES = ("annotator", "reviewer", "lead")

_ALL = frozenset(ROLES)
_REVIEWERS = frozenset({"reviewer", "lead"})
_LEAD = frozenset({"lead"})

# action -> (roles allowed, what it covers). Keep the actions coarse and named for the
# loop's steps: one line here per kind of change a person can make.
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "label": (_ALL, "save, skip, hold and release images on the Review page; label a "
                    "selection from the demo's oracle"),
    "review": (_REVIEWERS, "approve, fix and approve, or return submitted images (never "
                           "their own), accept or reject single boxes, comment on them"),
    "team_stats": (_REVIEWERS, "read the team dashboard: each annotator's figures, the "
                               "review queue, gold scores"),
    "export": (_REVIEWERS, "export labels or a selection (COCO, YOLO)"),
    "evaluate": (_REVIEWERS, "evaluate a model on the frozen test split"),
    "import": (_LEAD, "import images and labels, a corrected selection, or pre-labels"),
    "split": (_LEAD, "assign labeled images to train/val/test, freeze or redraw the "
                     "test split"),
    "query": (_LEAD, "pick the next batch (a selection) with a strategy"),
    "train": (_LEAD, "train a new model version, predict with one, retrain"),
    "compare": (_LEAD, "compare two models on the frozen test split"),
    "decide": (_LEAD, "make a model active or discard it, override a decision, roll "
                      "back, set the compare rule"),
    "manage_work": (_LEAD, "hand out a selection's images (tasks), set the workflow (review "
                           "share, cap, gold rate, what trains), mark gold images"),
    "cancel_job": (_LEAD, "cancel a queued or running job"),
    "manage_users": (_LEAD, "add users, change roles, disable users, reset passwords"),
    "read_audit": (_LEAD, "read and download the audit log"),
}

PERMISSIONS: dict[str, frozenset[str]] = {a: roles for a, (roles, _) in ACTIONS.items()}
# an action as a verb in a refusal ("only a lead may ..."), where its name is not one
_VERBS = {"team_stats": "read the team's figures"}


def as_verb(action: str) -> str:
    """``'cancel job'``, ``"read the team's figures"``: an action in a sentence."""
    return _VERBS.get(action, action.replace("_", " "))


class PermissionDenied(Exception):
    """An acting user (or nobody, in team mode) tried an action their role does not
    allow. The message names the user, their role, the action and who may do it."""


def allowed(role: str | None, action: str) -> bool:
    """True when ``role`` may perform ``action``. ValueError for an action that is not
    in the table (a typo must not read as "refused" or "allowed")."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}; actions: {', '.join(PERMISSIONS)}")
    return role in PERMISSIONS[action]


def a_role(role: str) -> str:
    """``'an annotator'``, ``'a lead'``: a role in a sentence."""
    return f"{'an' if role[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {role}"


def who_may(action: str) -> str:
    """``'a lead'`` / ``'a reviewer or a lead'``: for refusal messages."""
    return " or ".join(a_role(r) for r in ROLES if r in PERMISSIONS[action])


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else ValueError naming the roles."""
    if role not in ROLES:
        raise ValueError(f"unknown role {str(role)[:40]!r}; roles: {', '.join(ROLES)}")
    return role


def permission_table_markdown() -> str:
    """The table as Markdown (the docs' copy is checked against this)."""
    lines = ["| action | annotator | reviewer | lead | covers |", "|---|---|---|---|---|"]
    for action, (roles, covers) in ACTIONS.items():
        marks = " | ".join("yes" if r in roles else "no" for r in ROLES)
        lines.append(f"| `{action}` | {marks} | {covers} |")
    return "\n".join(lines)
