"""Team: who works on this project and what each may do.

With no users (single-user mode) the page says what team mode is and creates the first
user, a lead, which turns it on. In team mode a lead sees the users and changes them
(add, role, disable or enable, password, e-mail), sets the review workflow and hands out
work on the Work tab (settings, tasks, gold images), and reads and downloads the audit
log; anyone else is told they need a lead. Every check is al_core's
(:meth:`al_core.store.Store.authorize`, inside :mod:`al_core.team.accounts`): the page
asks it and shows its answer, and hiding a form is never the check.
"""
from collections import Counter
from collections.abc import Callable
from datetime import date

import streamlit as st

from al_core.jobs import runner as jobs
from al_core.permissions import PermissionDenied, a_role, permission_table_markdown
from al_core.review import team_stats
from al_core.store import Store
from al_core.team import accounts
from al_core.workflow import WorkflowError
from ui import errors, state, team_audit, team_users, team_work
from ui.chrome import page_entry
from ui.flash import flash, show_flash
from ui.team_users import SIGNIN_URL, NewUser, UserChange
from ui.text import md

page_entry()


def attempt(make: Callable[[], str], refused: str) -> None:
    """Make an account change: its result is flashed (the page redraws with the new
    table), or why al_core refused it is shown under the form."""
    try:
        done = make()
    except (ValueError, PermissionDenied) as exc:  # AccountError is a ValueError
        st.error(f"{refused}: {md(exc)}.", icon=":material/block:")
    else:
        flash("success", done)


def add(store: Store, new: NewUser) -> str:
    password = team_users.same_twice(new.password, new.again)
    first = not store.team_mode()
    user = accounts.add_user(store, new.name, password, new.role, email=new.email or None)
    if first:
        return (f"Team mode is on: {user.name} is the project's lead. From now on everyone "
                f"signs in, at {SIGNIN_URL}.")
    return f"Added {user.name} as {a_role(user.role)}."


def change(store: Store, c: UserChange) -> str:
    """One change to an existing user, through al_core.team.accounts; what it did."""
    before = store.user(c.name)
    you = c.name == store.actor_name
    if c.what == "role":
        user = accounts.set_role(store, c.name, c.value)
        if before is not None and before.role == user.role:
            return f"{user.name} is already {a_role(user.role)}."
        return (f"{user.name} is now {a_role(user.role)}"
                + (f" (was {a_role(before.role)})" if before else "")
                + ("; your session has ended: sign in again." if you else
                   "; their open sessions have ended."))
    if c.what in ("disable", "enable"):
        user = accounts.set_disabled(store, c.name, c.what == "disable")
        if before is not None and before.disabled == user.disabled:
            return f"{user.name} is already {c.what}d."
        if user.disabled:
            return (f"Disabled {user.name}: they cannot sign in, and their open sessions "
                    "have ended.")
        return f"Enabled {user.name}: they can sign in again."
    if c.what == "password":
        password = team_users.same_twice(c.value, c.again)
        user = accounts.reset_password(store, c.name, password)
        return f"New password set for {user.name}; their open sessions have ended."
    if c.what == "email":
        user = accounts.set_email(store, c.name, c.value or None)
        return (f"E-mail of {user.name} set to {user.email}." if user.email else
                f"E-mail of {user.name} removed.")
    raise ValueError(f"unknown change {c.what!r}")


def roles_table(*, expanded: bool) -> None:
    with st.expander("What each role may do", expanded=expanded, icon=":material/shield:"):
        st.markdown(permission_table_markdown())  # the product's own text


def single_user(store: Store) -> None:
    st.markdown("This project has no users: whoever opens the app may do everything. "
                "**Team mode** adds a sign-in with a name and password, a role for each "
                "person (annotator, reviewer or lead; the table below says what each may "
                "do) and an audit log of every change to the project.")
    st.markdown("Create the first user, a lead, to turn it on. **After this everyone must "
                f"sign in**, at the sign-in page (`{SIGNIN_URL}`), and commands "
                "(`python -m al_core ...`) need `--as NAME` or `ALS_USER`.")
    new = team_users.new_user_form(first=True)
    if new is not None:
        attempt(lambda: add(store, new), "Team mode is still off")
    roles_table(expanded=True)


def users_section(store: Store) -> None:
    users = store.users()
    team_users.users_table(users, {u.id: store.open_sessions(u.id) for u in users})
    forms = [("Add a user", lambda: team_users.new_user_form(first=False), "Not added"),
             ("Change role", lambda: team_users.role_form(users), "Role not changed"),
             ("Disable or enable", lambda: team_users.enabled_form(users), "Not changed"),
             ("Reset password", lambda: team_users.password_form(users),
              "Password not reset"),
             ("E-mail", lambda: team_users.email_form(users), "E-mail not set")]
    tabs = st.tabs([f[0] for f in forms], key="team_tabs")  # the same tab after a change
    for tab, (_, form, not_done) in zip(tabs, forms):
        with tab:
            submitted = form()
            if isinstance(submitted, NewUser):
                attempt(lambda: add(store, submitted), not_done)
            elif submitted is not None:
                attempt(lambda: change(store, submitted), not_done)
    roles_table(expanded=False)


def audit_section(store: Store) -> None:
    actors, actions = store.audit_facets()
    f = team_audit.audit_filters(actors, actions)
    rows = store.audit_entries(actor=f.actor, action=f.action, since=f.since,
                               until=f.until, limit=None)
    first = team_audit.page_offset(len(rows), f)
    team_audit.audit_table(rows[first:first + team_audit.PAGE_ROWS])
    root, actor = store.root, store.actor_name
    filters = {k: v for k, v in vars(f).items() if v is not None} or None

    def csv_download() -> bytes:  # built on the click, in the download's own thread
        with Store(root, actor=actor) as s, s.write():
            s.authorize("read_audit")
            s.audit("audit.export", object_type="audit_log", after=filters,
                    summary=f"downloaded {len(rows)} audit rows as CSV (Team page)")
        return team_audit.audit_csv(rows)

    st.download_button(f"Download CSV ({len(rows):,} row{'' if len(rows) == 1 else 's'})",
                       data=csv_download,
                       file_name=f"audit-log-{date.today():%Y-%m-%d}.csv", mime="text/csv",
                       on_click="ignore", disabled=not rows, icon=":material/download:",
                       help="Every row the filters match (all pages). Cells a spreadsheet "
                            "would run as a formula start with a single quote.")


def attempt_work(make: Callable[[], str], lead: str, form: str) -> None:
    """Make a change of the Work tab through al_core: what it did is said under the
    form's button after the page redraws with the new tables, or al_core's refusal or
    objection is said there at once (:func:`ui.errors.not_done`)."""
    try:
        done = make()
    except (ValueError, KeyError, PermissionDenied, WorkflowError) as exc:
        if isinstance(exc, KeyError):  # str() of a KeyError is its message in quotes
            exc = ValueError(exc.args[0] if exc.args else "not found")
        st.error(errors.not_done(lead, exc), icon=":material/block:")
    else:
        team_work.done(form, done)


def hand_out(store: Store, tag: str, a: team_work.Assignment) -> str:
    ids = team_work.parse_ids(a.ids) if a.ids is not None else None
    made = store.assign(store.selection(tag).id, a.annotators, size=a.size, item_ids=ids)
    if not made:
        raise ValueError(f"{tag} has no queued image left: each is assigned, held, "
                         "waiting for review or approved")
    listed = ", ".join(f"task {t['id']} to {t['annotator']} ({t['size']:,})"
                       for t in made[:8]) + (f" and {len(made) - 8} more" if len(made) > 8
                                             else "")
    return (f"Handed out {sum(t['size'] for t in made):,} images of {tag}: {listed}."
            + team_work.over_cap(team_stats.workload(store), [t["annotator"] for t in made],
                                 store.workflow_settings().cap))


def work_section(store: Store) -> None:
    st.subheader("Workflow settings")
    settings = store.workflow_settings()
    changes = team_work.settings_form(settings)
    team_work.show_done("team_workflow")
    if changes == {}:
        st.info("Nothing changed: the settings are as they were.")
    elif changes:
        attempt_work(lambda: (store.set_workflow_settings(**changes),
                              team_work.settings_summary(changes))[1], "Not saved",
                     "team_workflow")
    st.subheader("Hand out work")
    selections = {s.tag: s for s in team_stats.selection_states(store)}
    if not selections:
        st.caption("No selection yet: a lead picks one on the Query page.")
    else:
        tag = team_work.selection_picker(list(selections))
        st.caption(team_work.states_line(selections[tag].counts))
        given = team_work.assign_form([u.name for u in store.users() if not u.disabled],
                                      selections[tag].counts["queued"])
        team_work.show_done("team_assign")
        if given is not None:
            attempt_work(lambda: hand_out(store, tag, given), "Nothing was handed out",
                         "team_assign")
        tasks_part(store, tag, selections[tag].selection_id)
    st.markdown("**Who holds what now**")
    team_work.workload_table(team_stats.workload(store), settings.cap)
    st.subheader("Gold images")
    gold_part(store)


def tasks_part(store: Store, tag: str, selection_id: int) -> None:
    tasks = store.tasks(selection_id)
    if not tasks:
        st.caption(f"No tasks of {md(tag)} yet.")
        return
    rows = store.work_rows(selection_id=selection_id)
    unopened = Counter(r["task_id"] for r in rows if r["state"] == "assigned")
    st.markdown(f"**Tasks of {md(tag)}**")
    team_work.tasks_table(tasks, unopened, Counter(r["task_id"] for r in rows))
    task = team_work.take_back_form(unopened, {t["id"]: t["annotator"] for t in tasks})
    team_work.show_done("team_unassign")
    if task is not None:
        ids = [r["item_id"] for r in store.work_rows(("assigned",), selection_id=selection_id)
               if r["task_id"] == task]
        attempt_work(lambda: f"Task {task}: {store.unassign(ids):,} unopened images are back "
                             "in the pool.", "Nothing was taken back", "team_unassign")


def gold_part(store: Store) -> None:
    st.caption("Gold images are mixed into annotators' queues at the gold rate, looking like "
               "any other; each answer is scored against the image's labels (box F1 at IoU "
               "0.5), never saved, and never shown to the annotator. The scores are on the "
               "Dashboard.")
    change = team_work.gold_form()
    team_work.show_done("team_gold")
    if change is not None:
        def mark() -> str:
            ids = team_work.parse_ids(change.ids)
            n = store.set_gold(ids, gold=change.gold)
            same = len(ids) - n
            images = f"{n:,} gold image{'' if n == 1 else 's'}"
            if change.gold:
                return f"Marked {images}" + (f" ({same:,} already were)." if same else ".")
            return f"Unmarked {images}" + (f" ({same:,} were not gold)." if same else ".")
        attempt_work(mark, "Not marked" if change.gold else "Not unmarked", "team_gold")
    rows = team_stats.gold_images(store)
    if rows:
        team_work.gold_table(rows)
    else:
        st.caption("No gold images yet.")
    predicting = {j["params"].get("model_id"): j["id"] for status in ("queued", "running")
                  for j in store.jobs(status=status) if j["kind"] == "predict"}
    for model_id, tags, ids in unserved_gold(store):
        if model_id in predicting:  # the button's job (or another): not twice
            st.caption(f"Model #{model_id} is predicting (job {predicting[model_id]}): "
                       f"gold images it has not predicted are served in "
                       f"{md(', '.join(tags))} once it ends.")
        elif team_work.unserved_gold_notice(model_id, tags, ids):
            attempt_work(lambda: predict_gold(store, model_id, tags, ids), "Not started",
                         "team_gold")


def unserved_gold(store: Store) -> list[tuple[int, list[str], list[int]]]:
    """Gold images al_core will not serve in a selection still being worked on: a gold
    image is served only with the pre-labels of the model that made the batch (so it
    looks like the images around it), and one marked after the query was never
    predicted by it (as al_core.store.work.claim_next checks). ``(model id, the tags of
    its selections, the gold ids it has not predicted)``."""
    gold = sorted(store.gold_ids())
    if not gold:
        return []
    missing: dict[int, list[int]] = {}
    tags: dict[int, list[str]] = {}
    for sel in team_stats.selection_states(store):
        c = sel.counts
        if not (c["queued"] or c["assigned"] or c["in_progress"] or c["returned"]):
            continue  # nobody pulls from it any more
        model_id = store.selection_model_id(sel.selection_id)
        if model_id is None:
            continue
        if model_id not in missing:
            missing[model_id] = store.unpredicted_items(model_id, gold)
        if missing[model_id]:
            tags.setdefault(model_id, []).append(sel.tag)
    return [(m, tags[m], missing[m]) for m in tags]


def predict_gold(store: Store, model_id: int, tags: list[str], ids: list[int]) -> str:
    job_id = jobs.start_job(store, "predict", {"model_id": model_id, "item_ids": ids})
    n = len(ids)
    return (f"Predicting {n:,} gold image{'' if n == 1 else 's'} with model #{model_id} "
            f"(job {job_id}): once it ends, {'it is' if n == 1 else 'they are'} served in "
            f"{', '.join(tags)}.")


def refused(action: str, store: Store) -> PermissionDenied | None:
    try:
        store.authorize(action)
    except PermissionDenied as exc:
        return exc
    return None


with state.store() as store:
    st.title("Team")
    show_flash()
    if not store.team_mode():
        single_user(store)
    else:
        manage, audit = refused("manage_users", store), refused("read_audit", store)
        if manage is not None and audit is not None:
            st.warning("Users, roles and the audit log are a lead's: ask a lead of this "
                       f"project. ({md(manage)}" + (f"; the sign-in page is {SIGNIN_URL}"
                                                   if store.actor_name is None else "")
                       + ")", icon=":material/lock:")
        work = refused("manage_work", store)
        sections = [(name, draw) for name, draw, no in (
            ("Users", users_section, manage), ("Work", work_section, work),
            ("Audit log", audit_section, audit)) if no is None]
        if sections:
            tabs = st.tabs([name for name, _ in sections], key="team_section",
                           on_change="rerun")
            for tab, (name, draw) in zip(tabs, sections):
                with tab:
                    if name != "Work" or tab.open:  # the Work tab runs when it is open
                        draw(store)
