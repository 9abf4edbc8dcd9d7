"""Jobs: kind, status, progress, heartbeat, log."""
from __future__ import annotations

import json

from sqlite_utils import Database

from al_core.store.rows import now


class JobsMixin:
    db: Database

    # -- jobs -------------------------------------------------------------------
    def add_job(self, kind: str, params: dict) -> int:
        return self.db["jobs"].insert({"kind": kind, "status": "queued",
                                       "params": json.dumps(params), "created": now()}).last_pk

    def job(self, job_id: int) -> dict:
        rows = list(self.db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
        if not rows:
            raise KeyError(f"no job with id {job_id}")
        return dict(rows[0], params=json.loads(rows[0]["params"]))

    def jobs(self, *, status: str | None = None, limit: int = 50) -> list[dict]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        return [dict(r, params=json.loads(r["params"])) for r in self.db.query(
            f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT {int(limit)}", args)]

    def update_job(self, job_id: int, **fields) -> None:
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*fields.values(), job_id])

    def append_job_log(self, job_id: int, line: str) -> None:
        self.db.execute("UPDATE jobs SET log = log || ? WHERE id = ?", [line + "\n", job_id])

