"""benchmarks/team_load.py at its quick size: 3 annotators and 1 reviewer, each a process
of their own, for 10 seconds against the served app while a 2-epoch retrain runs. Every
action they recorded is in the database, no edit is lost and no error reached them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_small_team_loses_no_edit_and_meets_no_error(tmp_path):
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "team_load.py"), "--quick",
         "--template", str(tmp_path / "template"), "--project", str(tmp_path / "project"),
         "--json", str(report_path), "--retrain-wait", "240"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert report_path.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["errors"] == [], report["errors"]
    assert report["lost_edits"] == [] and report["missing"] == []
    assert report["unreported_writes"] == 0
    assert report["counts"]["saves"] > 0 and sum(report["counts"]["decisions"].values()) > 0
    assert report["edits_checked"] >= report["counts"]["saves"]
    assert report["times_ms"]["save"]["n"] == report["counts"]["saves"]
    assert report["app"]["health_at_end"] and report["app"]["alive_at_end"]
    assert report["retrain"]["status"] == "succeeded", report["retrain"]
    assert done.returncode == 0, done.stdout[-3000:]
    assert "lost edits: 0" in done.stdout

    # the check finds what it is there to find: an edit overwritten behind the team's back,
    # a saved box that is not what was recorded, a reported decision that is not there
    team_load = _load_benchmark()
    project = Path(report["project"])
    rows = [json.loads(line) for f in sorted((project / "load-records").glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    users = {r["user"] for r in rows}
    assert team_load.check(project, rows, users)["lost"] == []
    saves = [r for r in rows if r["ok"] and r["action"] == "save" and r["boxes"]]
    from al_core.store import Store
    from al_core.types import Box, LabeledBox
    with Store(project) as s:  # a write no session made, on the last image saved
        s.set_labels(saves[-1]["item"], [LabeledBox(s.classes()[0].id, Box(1, 1, 9, 9))],
                     source="human", author="intruder")
    saves[0]["boxes"][0][1] += 1.0
    rows.append({**rows[-1], "action": "decide", "ok": True, "item": saves[0]["item"],
                 "decision": "approve", "decision_id": 10 ** 6, "comments": 0,
                 "boxes": None})
    found = team_load.check(project, rows, users)
    assert any(f"#{saves[-1]['item']}: labels" in x for x in found["lost"]), found["lost"]
    assert any(f"#{saves[0]['item']} v{saves[0]['version']}" in x for x in found["lost"])
    assert any("decision #1000000" in x for x in found["missing"])


def _load_benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "team_load", ROOT / "benchmarks" / "team_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
