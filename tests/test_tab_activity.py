"""A Review tab's active time and its hold on images, without a browser: the clock that
leaves idle stretches out (ui/activity.py), the release route a closed tab calls and the
renew route its heartbeat calls (ui/tab_leases.py), the short lease that heartbeat renews,
and the store's list of an annotator's skipped images."""
from __future__ import annotations

import pytest
from starlette.applications import Starlette

from al_core import clock
from al_core.review.save import (LEASE_SECONDS, TAB_HEARTBEAT_SECONDS, TAB_LEASE_SECONDS,
                                 submit_review)
from al_core.store import Store
from al_core.team.accounts import add_user
from al_core.team.signin import sign_in
from al_core.types import SelectionItem
from tests.test_signin_web import SITE, post
from ui import tab_leases
from ui.activity import IDLE_ENV, ActiveClock, idle_seconds, parse_report, release_after_idle


# -- the clock ----------------------------------------------------------------------------
def test_an_image_counts_only_its_active_time_on_screen():
    c = ActiveClock()
    c.show(7, now=100.0)
    assert c.seconds(7, now=110.0) == pytest.approx(10.0)
    # no input from 112 on; the tracker says so at 142 (30 s threshold)
    c.went_idle(30.0, now=142.0)
    assert c.idle and c.idle_for(150.0) == pytest.approx(38.0)
    assert c.seconds(7, now=500.0) == pytest.approx(12.0)  # the idle stretch counts for nothing
    c.came_back(now=600.0)
    assert not c.idle and c.idle_for(600.0) == 0.0
    assert c.seconds(7, now=605.0) == pytest.approx(17.0)


def test_time_goes_to_the_image_on_screen_and_a_saved_image_starts_again():
    c = ActiveClock()
    c.show(1, now=0.0)
    c.show(2, now=5.0)  # next image
    c.show(1, now=8.0)  # back to the first (D)
    c.show(1, now=9.0)  # the same again: nothing changes
    assert c.seconds(1, now=10.0) == pytest.approx(7.0)
    assert c.seconds(2, now=10.0) == pytest.approx(3.0)
    c.forget(1)  # saved
    assert c.seconds(1, now=20.0) == 0.0 and c.shown is None
    assert c.seconds(99, now=20.0) == 0.0  # never shown


def test_an_image_opened_while_idle_counts_from_the_next_input():
    c = ActiveClock()
    c.show(1, now=0.0)
    c.went_idle(30.0, now=40.0)  # last input at 10
    c.went_idle(50.0, now=60.0)  # said twice: the first stands
    c.show(2, now=45.0)  # a heartbeat or a colleague's save moved nothing by hand
    assert c.seconds(1, now=100.0) == pytest.approx(10.0)
    assert c.seconds(2, now=100.0) == 0.0
    c.came_back(now=100.0)
    c.came_back(now=101.0)  # said twice: counts from the first
    assert c.seconds(2, now=104.0) == pytest.approx(4.0)


def test_an_idle_report_older_than_the_image_takes_nothing_from_it():
    c = ActiveClock()
    c.show(1, now=0.0)
    c.show(2, now=20.0)
    c.went_idle(30.0, now=35.0)  # last input at 5, before image 2 opened
    assert c.seconds(2, now=50.0) == 0.0
    assert c.seconds(1, now=50.0) == pytest.approx(20.0)


def test_the_idle_threshold_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv(IDLE_ENV, raising=False)
    assert idle_seconds() == 30.0 and release_after_idle() == 120.0
    monkeypatch.setenv(IDLE_ENV, "2.5")
    assert idle_seconds() == 2.5 and release_after_idle() == 10.0
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv(IDLE_ENV, bad)
        with pytest.raises(ValueError, match=IDLE_ENV):
            idle_seconds()


def test_only_a_well_formed_tracker_report_is_read():
    assert parse_report({"activity": {"state": "idle", "idle_ms": 31000, "seq": 3}}).idle_for \
        == pytest.approx(31.0)
    assert parse_report({"activity": {"state": "active", "idle_ms": 5}}).state == "active"
    for value in (None, {}, {"activity": None}, {"activity": {"state": "asleep"}},
                  {"activity": {"state": "idle", "idle_ms": "x"}}, "idle"):
        assert parse_report(value) is None, value


# -- leases -------------------------------------------------------------------------------
def test_a_tab_lease_runs_out_within_seconds_without_its_heartbeat(demo_store):
    item_id = demo_store.query_pool()[0]
    assert TAB_HEARTBEAT_SECONDS * 2 < TAB_LEASE_SECONDS <= 30 < LEASE_SECONDS
    assert demo_store.claim(item_id, "ana", seconds=TAB_LEASE_SECONDS) is None
    now = clock.monotonic()
    assert demo_store.holder(item_id, at=now + TAB_LEASE_SECONDS - 1) == "ana"
    assert demo_store.holder(item_id, at=now + TAB_LEASE_SECONDS + 1) is None


def _route(hosts=("localhost",)) -> Starlette:
    return Starlette(routes=tab_leases.routes_for(allowed_hosts=lambda: list(hosts)))


def test_a_closed_tab_gives_back_its_images_and_nobody_else_s(demo_store):
    a, b, c = demo_store.query_pool()[:3]
    demo_store.claim(a, "ana", seconds=TAB_LEASE_SECONDS)
    demo_store.claim(b, "ana", seconds=TAB_LEASE_SECONDS)
    demo_store.claim(c, "bo", seconds=TAB_LEASE_SECONDS)  # bo's, though ana's tab names it
    tab_leases.hold("tab-1", demo_store.root, "ana", [a, b, c])
    app = _route()
    assert post(app, tab_leases.RELEASE_PATH, {"tab": "unknown"}).status == 204
    assert demo_store.holder(a) == "ana"
    assert post(app, tab_leases.RELEASE_PATH, {"tab": "tab-1"}).status == 204
    assert (demo_store.holder(a), demo_store.holder(b), demo_store.holder(c)) == \
        (None, None, "bo")
    assert tab_leases.held("tab-1") is None  # said once: a second notice does nothing


def test_a_release_from_another_site_or_without_a_tab_is_refused(demo_store):
    a = demo_store.query_pool()[0]
    demo_store.claim(a, "ana", seconds=TAB_LEASE_SECONDS)
    tab_leases.hold("tab-2", demo_store.root, "ana", [a])
    app = _route()
    assert post(app, tab_leases.RELEASE_PATH, {"tab": "tab-2"},
                origin="http://evil.example").status == 403
    assert post(app, tab_leases.RELEASE_PATH, {"other": "x"}).status == 400
    assert demo_store.holder(a) == "ana"
    tab_leases.hold("tab-2", demo_store.root, "ana", [])  # the tab holds nothing now
    assert tab_leases.held("tab-2") is None


def test_team_mode_releases_only_for_the_tab_s_signed_in_user(demo_store):
    add_user(demo_store, "lena", "lead-password-1", "lead")
    demo_store.act_as("lena")
    add_user(demo_store, "ann", "annotator-pw-1", "annotator")
    add_user(demo_store, "ben", "annotator-pw-2", "annotator")
    sel = _selection(demo_store, 3)
    ann = sign_in(demo_store, "ann", "annotator-pw-1", address="127.0.0.1").token
    ben = sign_in(demo_store, "ben", "annotator-pw-2", address="127.0.0.1").token
    with Store(demo_store.root, actor="ann") as s:
        item = s.claim_next(sel, "ann", seconds=TAB_LEASE_SECONDS)
        assert item is not None
    tab_leases.hold("tab-3", demo_store.root, "ann", [item])
    app = _route()
    # a token with someone else's cookie (or none) acts for nobody
    for cookie in (ben, None, "forged"):
        assert post(app, tab_leases.RELEASE_PATH, {"tab": "tab-3"}, cookie=cookie).status == 204
        assert demo_store.holder(item) == "ann"
    assert post(app, tab_leases.RELEASE_PATH, {"tab": "tab-3"}, cookie=ann,
                origin=SITE).status == 204
    assert demo_store.holder(item) is None
    assert demo_store.work_state(item) == "queued"  # back in the pool for the next person
    with Store(demo_store.root, actor="ben") as s:
        assert s.claim_next(sel, "ben", seconds=TAB_LEASE_SECONDS) == item


def _renewed(store: Store, item_id: int) -> str | None:
    """Who holds ``item_id`` 20 s from now: a lease of 5 s renewed for TAB_LEASE_SECONDS
    (30 s) still runs then, one not renewed does not."""
    return store.holder(item_id, at=clock.monotonic() + 20)


def test_a_tab_s_renewal_renews_only_its_user_s_own_leases_and_takes_nothing(demo_store):
    a, b, c, d, e = demo_store.query_pool()[:5]
    demo_store.claim(a, "ana", seconds=5)
    demo_store.claim(b, "ana", seconds=5)
    demo_store.claim(c, "bo", seconds=5)  # bo's, though ana's tab names it
    # d: named by the tab, held by nobody (its lease ran out): not taken by a renewal
    demo_store.claim(e, "ana", seconds=5)  # ana's, but not this tab's
    tab_leases.hold("tab-r", demo_store.root, "ana", [a, b, c, d])
    app = _route()
    assert post(app, tab_leases.RENEW_PATH, {"tab": "unknown"}).status == 204
    assert [_renewed(demo_store, i) for i in (a, b, c, d, e)] == [None] * 5
    assert post(app, tab_leases.RENEW_PATH, {"tab": "tab-r"}).status == 204
    assert [_renewed(demo_store, i) for i in (a, b, c, d, e)] == \
        ["ana", "ana", None, None, None]
    assert tab_leases.renew_tab("tab-r", None) == sorted([a, b])
    assert (demo_store.holder(c), demo_store.holder(d)) == ("bo", None)
    assert tab_leases.held("tab-r") is not None  # renewing keeps the record (release ends it)


def test_a_renewal_from_another_site_without_a_tab_or_too_long_is_refused(demo_store):
    a = demo_store.query_pool()[0]
    demo_store.claim(a, "ana", seconds=5)
    tab_leases.hold("tab-s", demo_store.root, "ana", [a])
    app = _route()
    assert post(app, tab_leases.RENEW_PATH, {"tab": "tab-s"},
                origin="http://evil.example").status == 403
    assert post(app, tab_leases.RENEW_PATH, {"other": "x"}).status == 400
    assert post(app, tab_leases.RENEW_PATH,
                {"tab": "tab-s", "pad": "x" * tab_leases.MAX_BODY_BYTES}).status == 413
    assert _renewed(demo_store, a) is None  # none of them renewed it
    assert post(app, tab_leases.RENEW_PATH, {"tab": "tab-s"}).status == 204
    assert _renewed(demo_store, a) == "ana"


def test_team_mode_renews_only_for_the_tab_s_signed_in_user(demo_store):
    add_user(demo_store, "lena", "lead-password-1", "lead")
    demo_store.act_as("lena")
    add_user(demo_store, "ann", "annotator-pw-1", "annotator")
    add_user(demo_store, "ben", "annotator-pw-2", "annotator")
    sel = _selection(demo_store, 3)
    ann = sign_in(demo_store, "ann", "annotator-pw-1", address="127.0.0.1").token
    ben = sign_in(demo_store, "ben", "annotator-pw-2", address="127.0.0.1").token
    with Store(demo_store.root, actor="ann") as s:
        item = s.claim_next(sel, "ann", seconds=TAB_LEASE_SECONDS)
        assert item is not None and s.claim(item, "ann", seconds=5) is None
    tab_leases.hold("tab-t", demo_store.root, "ann", [item])
    app = _route()
    for cookie in (ben, None, "forged"):  # a token with another's cookie acts for nobody
        assert post(app, tab_leases.RENEW_PATH, {"tab": "tab-t"}, cookie=cookie).status == 204
        assert _renewed(demo_store, item) is None
    assert post(app, tab_leases.RENEW_PATH, {"tab": "tab-t"}, cookie=ann).status == 204
    assert _renewed(demo_store, item) == "ann"
    assert demo_store.work_state(item) != "queued"  # still ann's open work


def _selection(store: Store, n: int) -> int:
    pool = store.query_pool()[:n]
    return store.add_selection(tag="sel", round=1, strategy="uncertainty", config={}, seed=0,
                               model_id=None,
                               items=[SelectionItem(i, r, 1.0, False)
                                      for r, i in enumerate(pool)])


# -- skipped images ---------------------------------------------------------------------------
def test_the_skipped_list_is_the_annotator_s_unlabeled_skips_in_rank_order(demo_store):
    sel_id = _selection(demo_store, 4)
    sel = demo_store.selection("sel")
    ids = [s.item_id for s in sel.items]
    for item_id in (ids[2], ids[0], ids[1]):
        demo_store.skip(item_id, "ana", selection_id=sel_id)
    demo_store.skip(ids[3], "bo", selection_id=sel_id)
    assert demo_store.skipped(sel_id, "ana") == [ids[0], ids[1], ids[2]]
    assert demo_store.skipped(sel_id, " ana ") == [ids[0], ids[1], ids[2]]  # the name rule
    item = demo_store.item(ids[1])
    submit_review(demo_store, ids[1], [], author="ana", action="save",
                  expected_version=item.label_version, selection=sel)
    assert demo_store.skipped(sel_id, "ana") == [ids[0], ids[2]]  # saved: no longer skipped
    assert demo_store.skipped(sel_id, "bo") == [ids[3]]
