"""Team mode under load: annotators and reviewers working at once on one project, against
one running app, while a retrain trains.

    .venv/bin/python benchmarks/team_load.py [--annotators 20] [--reviewers 3]
        [--seconds 120] [--project PATH] [--json PATH] [--no-app] [--no-retrain]
    .venv/bin/python benchmarks/team_load.py --quick     # 3 + 1 for 10 s on a small demo

The project: the digits demo (``--images`` scenes, ``--test`` frozen as test; made once
in ``--template``, default ``data/bench-team-N``) copied to ``--project``, with
``--labeled`` pool images labeled from its oracle and split (what the retrain trains
on), a random selection of ``--selection`` images, one lead ``lea``, annotators
``ann01``... and reviewers ``rev1``... The app is served as ``./dev.sh app`` serves it
(``streamlit run serve.py``) on a free port and asked ``/_stcore/health`` every few
seconds; the lead starts a retrain (the default config, or ``--retrain-config``); then
every person runs in a process of their own (:mod:`team_sessions`: the Review page's
calls for annotators, :mod:`al_core.review.reviewing` for reviewers) for ``--seconds``.

Then the database is checked against what the sessions recorded: every save, skip,
decision and comment is there (review rows, submissions, decisions, comments, audit
rows) and nothing was written that no session reported; each edit is in the label
history as saved, and each image's labels are the last boxes saved for it (0 lost
edits); no error reached a person (a refusal for an image someone else took first is a
handled race, counted apart). Prints p50 and p95 of each action's time, the counts, the
retrain job's end, the app's health and the machine.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from al_core.decide.retrain import start_retrain  # noqa: E402
from al_core.jobs.runner import cancel_job  # noqa: E402
from al_core.query.round import QuerySpec, run_query  # noqa: E402
from al_core.simulation.demo import (DemoConfig, create_demo_project,  # noqa: E402
                                     label_from_oracle_at_random)
from al_core.store import Store  # noqa: E402
from al_core.team import accounts  # noqa: E402
from al_core.training.split import split_project  # noqa: E402
from team_sessions import SessionSpec, run_session  # noqa: E402

TAG = "team-load"
LEAD = "lea"
QUICK = {"annotators": 3, "reviewers": 1, "seconds": 10.0, "images": 160, "test": 30,
         "labeled": 40, "selection": 80,
         "retrain_config": '{"epochs": 2, "image_size": 64, "width": 8, "batch_size": 8}'}
FULL = {"annotators": 20, "reviewers": 3, "seconds": 120.0, "images": 2000, "test": 300,
        "labeled": 300, "selection": 1400, "retrain_config": None}
HEALTH_EVERY_S = 5.0
ACTIONS = ("next", "save", "skip", "queue", "open_review", "decide")


# -- set-up -----------------------------------------------------------------------------------
def make_project(args) -> Path:
    """The demo template (made once), copied to ``args.project``, with labels, a split, the
    selection and the team."""
    template = Path(args.template or ROOT / "data" / f"bench-team-{args.images}")
    if not (template / "project.db").exists():
        print(f"creating a {args.images}-image demo in {template} (once)...", flush=True)
        create_demo_project(template, DemoConfig(n_images=args.images,
                                                 test_size=args.test)).close()
    path = Path(args.project)
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"{path} is not empty: give a new folder to --project")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template, path, dirs_exist_ok=True)
    with Store(path) as s:
        label_from_oracle_at_random(s, args.labeled, seed=0)
        split_project(s, seed=0)
        run_query(s, QuerySpec(strategy="random", add=args.selection, random_control=0,
                               tag=TAG))
        accounts.add_user(s, LEAD, "lead-password", "lead")
        s.act_as(LEAD)
        for name, role in team(args):
            accounts.add_user(s, name, f"{name}-password", role)
    return path


def team(args) -> list[tuple[str, str]]:
    return [(f"ann{k + 1:02d}", "annotator") for k in range(args.annotators)] + \
           [(f"rev{k + 1}", "reviewer") for k in range(args.reviewers)]


class App:
    """``streamlit run serve.py`` on the project, as ``./dev.sh app`` runs it, with a
    thread asking ``/_stcore/health`` every ``HEALTH_EVERY_S`` seconds."""

    def __init__(self, project: Path, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("localhost", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://localhost:{self.port}/_stcore/health"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.address",
             "localhost", "--server.port", str(self.port), "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--", "--project", str(project)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        self.polls: list[tuple[bool, float]] = []
        self._stop = threading.Event()
        deadline = time.monotonic() + 120
        while not self.health()[0]:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise SystemExit(f"the app did not start (its log: {log})")
            time.sleep(0.5)
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def health(self) -> tuple[bool, float]:
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(self.url, timeout=10) as r:
                ok = r.status == 200 and r.read().strip() == b"ok"
        except OSError:
            ok = False
        return ok, (time.perf_counter() - t0) * 1000.0

    def _poll(self) -> None:
        while not self._stop.wait(HEALTH_EVERY_S):
            self.polls.append(self.health())

    def summary(self) -> dict:
        """Whether it still runs and answers now, and how its health polls went."""
        ok, ms = self.health()
        return {"alive_at_end": self.proc.poll() is None, "health_at_end": ok,
                "health_ms_at_end": round(ms, 1), "polls": len(self.polls),
                "polls_failed": sum(not good for good, _ in self.polls),
                "poll_ms": percentiles([t for good, t in self.polls if good])}

    def close(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- the run ---------------------------------------------------------------------------------
def run_sessions(args, path: Path, records: Path) -> tuple[float, float, list[str]]:
    """Every person's process, started together; returns the window's wall-clock start and
    end and what went wrong with the processes themselves."""
    ctx = mp.get_context("spawn")
    ready, go, start = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    procs = []
    for k, (name, role) in enumerate(team(args)):
        spec = SessionSpec(project=str(path), user=name, role=role, selection=TAG,
                           seconds=args.seconds, record=str(records / f"{name}.jsonl"),
                           seed=args.seed * 1000 + k)
        procs.append(ctx.Process(target=run_session, args=(spec, ready, go, start),
                                 name=name))
    problems = []
    try:
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=300)
        start.value = time.monotonic()
        began = time.time()
        go.set()
        for p in procs:
            p.join(timeout=max(0.0, start.value + args.seconds + 120 - time.monotonic()))
            if p.is_alive():
                problems.append(f"{p.name}: still running 120 s after the end; terminated")
            elif p.exitcode != 0:
                problems.append(f"{p.name}: exit code {p.exitcode}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
    return began, time.time(), problems


def wait_for_job(path: Path, job_id: int, limit_s: float) -> tuple[dict, bool]:
    """The job's row once it ended, and whether this script cancelled it: a job still
    running ``limit_s`` seconds after the sessions is cancelled (as the lead), so no
    training outlives the benchmark."""
    deadline, cancelled = time.monotonic() + limit_s, False
    while True:
        with Store(path, actor=LEAD) as s:
            job = s.job(job_id)
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job, cancelled
            if time.monotonic() > deadline and not cancelled:
                cancel_job(s, job_id)
                cancelled, deadline = True, time.monotonic() + 120
            elif time.monotonic() > deadline:
                return job, cancelled  # still running: the report says so
        time.sleep(2)


# -- the check ---------------------------------------------------------------------------------
def _same(a: list, b: list) -> bool:
    a, b = sorted(map(tuple, a)), sorted(map(tuple, b))
    return len(a) == len(b) and all(x[0] == y[0] and np.allclose(x[1:], y[1:], atol=1e-6)
                                    for x, y in zip(a, b))


def check(path: Path, rows: list[dict], users: set[str]) -> dict:
    """What the sessions recorded, against the database: each action's rows (a save's
    review, submission and audit rows; a skip's and a decision's audit rows; a decision
    and its comments; an image's first opening by someone), the reverse (review rows and
    decisions of the team that no session reported), and the edits (each in the label
    history as saved; each image's labels its last edit's)."""
    with Store(path) as s:
        db = s.db
        history = {(r["item_id"], r["label_version"]): r for r in db.query(
            "SELECT item_id, label_version, author, after FROM annotation_history")}
        reviews = Counter((r["item_id"], r["author"], r["label_version"]) for r in db.query(
            "SELECT item_id, author, label_version FROM reviews WHERE action = 'save'"))
        subs = Counter((r["item_id"], r["annotator"], r["label_version"]) for r in db.query(
            "SELECT item_id, annotator, label_version FROM submissions"))
        decisions = {r["id"]: r for r in db.query("SELECT * FROM review_decisions")}
        notes = Counter(r["decision_id"] for r in db.query(
            "SELECT decision_id FROM review_comments"))
        audit = Counter((r["action"], r["actor"], r["object_id"]) for r in db.query(
            "SELECT action, actor, object_id FROM audit_log"))
        edited = sorted({r["item"] for r in rows if r["ok"] and r.get("boxes") is not None})
        stored = s.annotations(edited)
        versions = {i.id: i.label_version for i in s.items(ids=edited)}
        counts = s.work_counts(s.selection(TAG).id)
    missing, edits, opened = [], {}, set()
    for r in rows:
        if not r["ok"]:
            continue
        item, who = r.get("item"), r["user"]
        if r["action"] == "save":
            key = (item, who, r["version"])
            for table, counter in (("reviews", reviews), ("submissions", subs)):
                if counter[key] < 1:
                    missing.append(f"{table} row of {who}'s save of #{item} v{r['version']}")
                counter[key] -= 1
            wanted = [("review.save", who, str(item))]
        elif r["action"] == "skip":
            wanted = [("review.skip", who, str(item))]
        elif r["action"] == "decide":
            d = decisions.pop(r["decision_id"], None)
            if d is None or (d["item_id"], d["reviewer"], d["decision"]) != \
                    (item, who, r["decision"]):
                missing.append(f"decision #{r['decision_id']} ({who} {r['decision']} #{item})")
            if notes[r["decision_id"]] != r["comments"]:
                missing.append(f"{r['comments']} comments of decision #{r['decision_id']}")
            wanted = [(f"work.{r['decision']}", who, str(item))]
        elif r["action"] == "next" and item is not None and (who, item) not in opened:
            opened.add((who, item))  # its first opening by them moved it (reopenings may not)
            wanted = [("work.open", who, str(item))]
        else:
            wanted = []
        for key in wanted:
            if audit[key] < 1:
                missing.append(f"audit row {key}")
            audit[key] -= 1
        if r.get("boxes") is not None:
            edits.setdefault(item, []).append(r)
    unreported = sum(n for (_, who, _), n in reviews.items() if who in users and n > 0) + \
        sum(1 for d in decisions.values() if d["reviewer"] in users)
    lost = []
    for item, done in edits.items():
        done.sort(key=lambda r: r["version"])
        if len({r["version"] for r in done}) != len(done):
            lost.append(f"#{item}: two edits saved as one version {[r['version'] for r in done]}")
        for r in done:
            h = history.get((item, r["version"]))
            if h is None or h["author"] != r["user"] or not _same(json.loads(h["after"]),
                                                                  r["boxes"]):
                lost.append(f"#{item} v{r['version']} by {r['user']}: not in the history "
                            "as saved")
        last = done[-1]
        now = [[a.class_id, *a.box.as_list()] for a in stored[item]]
        if versions[item] != last["version"] or not _same(now, last["boxes"]):
            lost.append(f"#{item}: labels v{versions[item]} are not {last['user']}'s "
                        f"v{last['version']}")
    return {"missing": missing, "unreported_writes": unreported, "lost": lost,
            "edits": sum(map(len, edits.values())), "images_edited": len(edits),
            "work_counts": counts}


# -- the report --------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    v = np.asarray(values)
    return {"n": len(v), "p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
            "max": float(v.max())}


def machine() -> dict:
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "load": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(),
            "python": platform.python_version()}


def summarise(rows: list[dict], checked: dict, problems: list[str], seconds: float) -> dict:
    ok = [r for r in rows if r["ok"]]
    times = {a: percentiles([r["ms"] for r in ok if r["action"] == a
                             and (a != "next" or r.get("item") is not None)])
             for a in ACTIONS}
    times["claim_next"] = percentiles([r["claim_ms"] for r in ok if r["action"] == "next"
                                       and r.get("item") is not None])
    races = Counter(f"{r['action']}: {r['error_type']}" for r in rows
                    if not r["ok"] and r["handled"])
    errors = [f"{r['user']} {r['action']} #{r.get('item')}: {r['error_type']}: {r['error']}"
              for r in rows if not r["ok"] and not r["handled"]] + problems
    decided = Counter(r["decision"] for r in ok if r["action"] == "decide")
    saves = [r for r in ok if r["action"] == "save"]
    return {"times_ms": times, "errors": errors, "handled_races": dict(races),
            "counts": {"actions": len(rows), "saves": len(saves),
                       "fixes_of_returned": sum(bool(r.get("fix")) for r in saves),
                       "skips": sum(r["action"] == "skip" for r in ok),
                       "next_empty": sum(r["action"] == "next" and r.get("item") is None
                                         for r in ok),
                       "decisions": dict(decided),
                       "saves_per_minute": round(len(saves) / seconds * 60, 1)},
            "lost_edits": checked["lost"], "missing": checked["missing"],
            "unreported_writes": checked["unreported_writes"],
            "edits_checked": checked["edits"], "images_edited": checked["images_edited"],
            "work_counts": checked["work_counts"]}


def print_report(r: dict) -> None:
    print(f"\n{r['annotators']} annotators, {r['reviewers']} reviewers, {r['seconds']:.0f} s, "
          f"{r['date']}; machine: {r['machine']['usable_cores']} cores, load "
          f"{r['load_before']} before, {r['machine']['load']} after")
    print(f"{'action':<12} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, t in r["times_ms"].items():
        if t["n"]:
            print(f"{name:<12} {t['n']:>6} {t['p50']:>8.1f} {t['p95']:>8.1f} {t['max']:>8.1f}")
    print("counts:", json.dumps(r["counts"]))
    print("workflow states at the end:", json.dumps(r["work_counts"]))
    print(f"edits checked: {r['edits_checked']} on {r['images_edited']} images; "
          f"lost edits: {len(r['lost_edits'])}; actions missing from the database: "
          f"{len(r['missing'])}; writes no session reported: {r['unreported_writes']}")
    print(f"errors: {len(r['errors'])}; handled races: {sum(r['handled_races'].values())} "
          f"{json.dumps(r['handled_races'])}")
    for line in (r["errors"] + r["lost_edits"] + r["missing"])[:20]:
        print("  ", line)
    print("retrain:", json.dumps(r["retrain"]))
    print("app:", json.dumps(r["app"]))


def retrain_summary(job: dict | None, began: float, ended: float,
                    cancelled: bool) -> dict | None:
    if job is None:
        return None
    at = lambda s: datetime.fromisoformat(s).timestamp() if s else None  # noqa: E731
    start, end = at(job["started"]), at(job["finished"])
    return {"job": job["id"], "status": job["status"], "message": job["message"],
            "error": (job["error"] or "")[-300:] or None,
            "started_s": None if start is None else round(start - began, 1),
            "finished_s": None if end is None else round(end - began, 1),
            "window_s": round(ended - began, 1), "cancelled_by_benchmark": cancelled}


def run(args) -> dict:
    """Set up, serve, retrain, run the sessions and check: the report."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    path = make_project(args)
    records = path / "load-records"
    records.mkdir()
    print(f"project {path}; records in {records}", flush=True)
    app = None if args.no_app else App(path, path / "app.log")
    job_id, job = None, None
    try:
        if not args.no_retrain:
            with Store(path, actor=LEAD) as s:
                override = json.loads(args.retrain_config) if args.retrain_config else None
                _, job_id = start_retrain(s, override=override)
        began, ended, problems = run_sessions(args, path, records)
        app_report = app.summary() if app else None
        job, cancelled = wait_for_job(path, job_id, args.retrain_wait) if job_id \
            else (None, False)
    finally:
        if app:
            app.close()
        if job is None and job_id is not None:  # interrupted: no training outlives it
            with Store(path, actor=LEAD) as s:
                if s.job(job_id)["status"] in ("queued", "running"):
                    cancel_job(s, job_id)
    rows = [json.loads(line) for f in sorted(records.glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    users = {name for name, _ in team(args)}
    report = {"annotators": args.annotators, "reviewers": args.reviewers,
              "seconds": args.seconds, "date": datetime.now().isoformat(timespec="minutes"),
              "project": str(path), "load_before": load_before, "machine": machine(),
              **summarise(rows, check(path, rows, users), problems, ended - began),
              "retrain": retrain_summary(job, began, ended, cancelled),
              "retrain_cancelled": cancelled}
    report["app"] = app_report
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 annotators, 1 reviewer, 10 s, "
                    "a 160-image demo and a 2-epoch retrain (each option may still be given)")
    for name, kind in (("annotators", int), ("reviewers", int), ("seconds", float),
                       ("images", int), ("test", int), ("labeled", int), ("selection", int)):
        ap.add_argument(f"--{name}", type=kind)
    ap.add_argument("--retrain-config", help="the retrain's override as JSON (default: the "
                    "default config; --quick: a 2-epoch 64 px model)")
    ap.add_argument("--project", help="where the run's project goes (a new folder; default "
                    "a temporary one, kept)")
    ap.add_argument("--template", help="the demo made once (default data/bench-team-N)")
    ap.add_argument("--json", help="also write the report here")
    ap.add_argument("--no-app", action="store_true")
    ap.add_argument("--no-retrain", action="store_true")
    ap.add_argument("--retrain-wait", type=float, default=900, help="seconds to wait after "
                    "the sessions for the retrain to end")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.project is None:
        args.project = str(Path(tempfile.mkdtemp(prefix="team-load-")) / "project")
    report = run(args)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    bad = report["errors"] or report["lost_edits"] or report["missing"] or \
        report["unreported_writes"] or (report["app"] and not report["app"]["health_at_end"]) or \
        (report["retrain"] and report["retrain"]["status"] != "succeeded"
         and not report["retrain_cancelled"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
