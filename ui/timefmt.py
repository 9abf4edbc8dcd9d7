"""Times as people read them: "today 14:05", "yesterday 09:12", "Nov 28, 14:05", in
the machine's local time zone (the database keeps UTC ISO timestamps)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


def when(stamp: str | None, *, now: datetime | None = None) -> str:
    """A stored ISO timestamp as people read it; "" for none."""
    if not stamp:
        return ""
    t = datetime.fromisoformat(stamp)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    t = t.astimezone()
    today = (now or datetime.now(timezone.utc)).astimezone().date()
    if t.date() == today:
        return f"today {t:%H:%M}"
    if t.date() == today - timedelta(days=1):
        return f"yesterday {t:%H:%M}"
    if t.year == today.year:
        return f"{t:%b} {t.day}, {t:%H:%M}"
    return f"{t:%b} {t.day} {t.year}, {t:%H:%M}"
