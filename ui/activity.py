"""What a Review page tab does in the browser besides the canvas, and the active time it
measures.

- :func:`tab_watch` mounts one small inline component (Streamlit Components v2, no
  iframe, hidden): an **activity tracker** that reports when the tab goes idle (no
  pointer, key, wheel or touch input on the page for :func:`idle_seconds`) and when the
  user comes back, one rerun at each and none per input event; a **heartbeat** for the
  leases (served by ``serve.py``: a ``fetch`` to the renew route of :mod:`ui.tab_leases`
  while the tab is not idle, no rerun; without the routes: a rerun of the watcher's
  fragment); a **release notice** sent
  with ``navigator.sendBeacon`` when the page goes away (tab closed, reloaded, signed
  out: ``pagehide``), so the tab's images are free at once (:mod:`ui.tab_leases`); and
  **scroll to the top** when asked (the editor opening after the grid: Streamlit keeps the
  main container's scroll position across reruns).
- :class:`ActiveClock` turns those reports into seconds per image: time counts for the
  image (or grid page) on screen, and not from the last input of an idle stretch until
  the user comes back.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import streamlit as st

IDLE_ENV = "ALS_IDLE_SECONDS"  # tests set a short threshold
DEFAULT_IDLE_SECONDS = 30.0  # no input this long: the tab is idle, its clock stops
RELEASE_AFTER_IDLE = 4  # idle this many thresholds (2 minutes): its images are released


def idle_seconds() -> float:
    """Seconds without input after which a tab counts as idle: ``$ALS_IDLE_SECONDS``, else
    30. ValueError naming the value when it is not a positive number."""
    text = os.environ.get(IDLE_ENV, "").strip()
    if not text:
        return DEFAULT_IDLE_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{IDLE_ENV}={text!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{IDLE_ENV}={text!r} must be more than 0 seconds")
    return value


def release_after_idle() -> float:
    """Seconds idle after which a tab gives its images back (4 idle thresholds)."""
    return RELEASE_AFTER_IDLE * idle_seconds()


@dataclass
class ActiveClock:
    """Seconds of active time each thing (an image's id, a grid page's key) was on screen
    in one browser tab. Time counts for the thing shown while the tab is active; an idle
    stretch counts from the tab's last input on, until the user comes back, for nothing.
    Monotonic seconds (``time.monotonic()``) throughout; ``now`` is passed in."""

    totals: dict[Hashable, float] = field(default_factory=dict)
    shown: Hashable | None = None
    since: float | None = None  # when the current active stretch of ``shown`` began
    idle_since: float | None = None  # the last input before the tab went idle

    @property
    def idle(self) -> bool:
        return self.idle_since is not None

    def show(self, key: Hashable, now: float) -> None:
        """``key`` is on screen from ``now`` (the same key again: nothing changes)."""
        if key == self.shown:
            return
        self._bank(now)
        self.shown = key
        self.since = None if self.idle else now

    def went_idle(self, idle_for: float, now: float) -> None:
        """The tab had no input for ``idle_for`` seconds until ``now``: the time since
        its last input is not counted."""
        if self.idle:
            return
        last_input = now - max(idle_for, 0.0)
        if self.since is not None:
            self._bank(max(self.since, last_input))
        self.idle_since = last_input

    def came_back(self, now: float) -> None:
        """Input again at ``now``: the thing shown counts from here."""
        if not self.idle:
            return
        self.idle_since = None
        if self.shown is not None:
            self.since = now

    def idle_for(self, now: float) -> float:
        """Seconds since the last input while the tab is idle; 0 while it is active."""
        return now - self.idle_since if self.idle_since is not None else 0.0

    def seconds(self, key: Hashable, now: float) -> float:
        """Active seconds ``key`` has been on screen so far (0 for one never shown)."""
        total = self.totals.get(key, 0.0)
        if key == self.shown and self.since is not None:
            total += max(0.0, now - self.since)
        return total

    def forget(self, key: Hashable) -> None:
        """Drop ``key``'s time (it was saved); it starts from 0 when shown again."""
        self.totals.pop(key, None)
        if key == self.shown:
            self.shown, self.since = None, None

    def _bank(self, until: float) -> None:
        if self.shown is not None and self.since is not None:
            self.totals[self.shown] = self.totals.get(self.shown, 0.0) + max(
                0.0, until - self.since)
        self.since = None


_TAB_JS = """
export default function ({ parentElement, data, setStateValue }) {
  const box = parentElement.closest('[data-testid="stElementContainer"]');
  if (box) box.style.display = "none";  // nothing to see: it takes no place on the page
  const t = window.__alsTab || (window.__alsTab = {});
  t.report = setStateValue;
  t.data = data;
  if (data.scroll && data.scroll !== t.scrolled) {
    t.scrolled = data.scroll;
    const top = () => {
      for (const sel of ['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
                         'section.main']) {
        const el = document.querySelector(sel);
        if (el) el.scrollTop = 0;
      }
      window.scrollTo(0, 0);
    };
    top();
    requestAnimationFrame(top);
    setTimeout(top, 300);  // once more after the editor has replaced the grid
  }
  t.sent = data.idle;  // what Python knows
  if (!t.started) {
    t.started = true;
    t.last = Date.now();
    t.idle = false;
    t.beat = 0;
    t.beatAt = Date.now();
    const input = () => {
      if (t.idle) { t.idle = false; t.back = Date.now(); }
      t.last = Date.now();
    };
    for (const ev of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"]) {
      document.addEventListener(ev, input, { capture: true, passive: true });
    }
    // A report reruns the page's watcher. Sent while a run is under way, or with the
    // input that caused a run, it raced that run (the editor's update was lost): reports
    // and heartbeats wait for a quiet moment (no run, no input for 0.5 s); a return is
    // said within 3 s whatever happens.
    const running = () => !!document.querySelector(
      '[data-testid="stApp"][data-test-script-state="running"]');
    const quiet = () => !running() && Date.now() - t.last >= 500;
    setInterval(() => {
      const now = Date.now();
      if (!t.idle && now - t.last >= t.data.idle_s * 1000) t.idle = true;
      if (!t.report) return;
      if (t.idle !== t.sent && (quiet() || (!t.idle && now - t.back >= 3000 && !running()))) {
        t.sent = t.idle;
        t.seq = (t.seq || 0) + 1;
        t.report("activity", { state: t.idle ? "idle" : "active", idle_ms: now - t.last,
                               seq: t.seq });
      } else if (t.data.renew_url && t.data.tab) {
        // the leases are renewed by a route: no rerun of the page, and none while idle
        // (an idle tab's images run out with their short lease)
        if (!t.idle && now - t.beatAt >= t.data.beat_s * 1000) {
          t.beatAt = now;
          t.beat += 1;
          fetch(t.data.renew_url, { method: "POST", keepalive: true,
                                    credentials: "same-origin",
                                    body: new URLSearchParams({ tab: t.data.tab }) })
            .catch(() => {});  // a lost renewal: the next one, or the lease runs out
        }
      } else if (now - t.beatAt >= t.data.beat_s * 1000 && quiet()) {
        t.beatAt = now;
        t.report("beat", ++t.beat);
      }
    }, 200);
    window.addEventListener("pagehide", () => {
      const d = t.data;
      if (d && d.release_url && d.tab) {
        navigator.sendBeacon(d.release_url, new URLSearchParams({ tab: d.tab }));
      }
    });
  }
  return () => { if (t.report === setStateValue) t.report = null; };
}
"""

_tab = st.components.v2.component("als_tab_watch", js=_TAB_JS, html="<span></span>",
                                  isolate_styles=False)


@dataclass(frozen=True)
class Activity:
    """A report of the tab's tracker: ``state`` "idle" or "active"; ``idle_for``: seconds
    since the last input when it was sent (going idle: how long the tab has been idle)."""

    state: str
    idle_for: float


def parse_report(value) -> Activity | None:
    """The tracker's report in a session-state value of :func:`tab_watch`'s component, or
    None (nothing sent yet, or not a report)."""
    report = value.get("activity") if hasattr(value, "get") else None
    if not hasattr(report, "get") or report.get("state") not in ("idle", "active"):
        return None
    try:
        return Activity(report["state"], max(float(report.get("idle_ms", 0)) / 1000, 0.0))
    except (TypeError, ValueError):
        return None


def tab_watch(*, key: str, tab: str | None, release_url: str | None, idle: bool,
              on_report: Callable[[Activity], None], beat_seconds: float,
              renew_url: str | None = None, scroll: int = 0) -> None:
    """Mount the tab's watcher (hidden); the fragment it is drawn in reruns at each of its
    reports. Its heartbeat, every ``beat_seconds``: with ``renew_url`` (and ``tab``) a
    POST of the tab's token to that route while the tab is not idle, which reruns
    nothing; without, a rerun of the fragment while the page is open, at a moment with
    no run and no input. ``tab``: the tab's token and ``release_url`` the route it is
    sent to when the page goes away (None: no notice); ``idle``: whether
    Python counts the tab idle now (a remounted watcher that knows otherwise says so);
    ``on_report``: called with each new report, before the rerun it causes; ``scroll``: a
    number that, when it changes, scrolls the page to the top."""
    def received() -> None:
        report = parse_report(st.session_state.get(key))
        if report is not None:
            on_report(report)

    _tab(key=key, data={"tab": tab, "release_url": release_url, "renew_url": renew_url,
                        "idle_s": idle_seconds(),
                        "beat_s": beat_seconds, "idle": idle, "scroll": scroll},
         default={"activity": None, "beat": 0}, on_activity_change=received,
         on_beat_change=lambda: None, width="content", height="content")
