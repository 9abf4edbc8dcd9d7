"""The Compare page, headless: a stored comparison's curves, table and decision; apply
and override; a bad config; and the dashboard's AP against eval-coco on exported files."""
import json
import pytest

from al_core.cli import main as cli
from al_core.decide.compare import DEFAULT_COMPARE_CONFIG, parse_compare_config
from al_core.decide.comparison import compare_models
from al_core.decide.comparison_report import comparison_report
from al_core.formats.export import coco_instances, coco_results
from tests.apptest import open_page, read
from tests.datasets import add_model_from_labels

def _trained(store, name, **kw):
    model = add_model_from_labels(store, name, status="trained", **kw)
    store.update_model(model, checkpoint_path=f"models/model-{model}.pt")
    return model


@pytest.fixture
def compared(demo_store, monkeypatch):
    """Model old (active) and new, compared with the default config, not carried out."""
    old = _trained(demo_store, "old", keep=0.6, jitter=1.0, seed=1)
    demo_store.apply_decision(old, "update_model", decided_by="lead", why="first")
    new = _trained(demo_store, "new", keep=1.0, jitter=0.5, seed=2)
    decision = compare_models(demo_store, new, None, parse_compare_config(DEFAULT_COMPARE_CONFIG),
                              raw_config=DEFAULT_COMPARE_CONFIG)
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    return demo_store, old, new, decision


def _page(name=None):
    return open_page("pages/compare.py", annotator=name)


def _button(page, label):
    return next(b for b in page.button if b.label.startswith(label))


def _charts(page):
    return page.get("vega_lite_chart")


def test_a_stored_comparison_renders_its_curves_table_and_decision(compared):
    store, old, new, decision = compared
    page = _page()
    assert not page.exception
    assert decision.decision == "update_model"
    assert any(f"#{new} should replace #{old}" in read(s.value)
               and decision.reason in read(s.value) for s in page.success)
    table = next(d.value for d in page.dataframe if "AP new" in d.value.columns)
    names = {c.id: c.name for c in store.classes()}
    by_class = {c.class_id: c for c in decision.per_class}
    assert len(table) == len(by_class)
    for _, row in table.iterrows():
        cls = next(c for c in by_class.values() if names[c.class_id] == row["class"])
        assert row["AP new"] == f"{cls.new_ap:.3f}" and row["AP old"] == f"{cls.old_ap:.3f}"
        assert row["won"] == ("yes" if cls.won else "no")
    assert len(_charts(page)) == len(by_class)  # one PR chart per class, both curves
    spec = json.loads(_charts(page)[0].proto.spec)
    assert spec["encoding"]["x"]["title"] == "recall"
    metrics = {m.label: m.value for m in page.metric}
    row = store.comparisons(limit=1)[0]
    assert metrics[f"mAP50 new #{new}"] == f"{row['new_map']:.3f}"
    assert metrics[f"mAP50 old #{old}"] == f"{row['old_map']:.3f}"
    assert metrics["P(new mAP higher)"] == f"{row['confidence']:.0%}"
    assert "None" not in " ".join(map(str, table.to_numpy().ravel()))


def test_apply_makes_the_new_model_active_and_records_who(compared):
    store, old, new, decision = compared
    page = _page("ana")
    _button(page, "Apply: update_model").click().run()
    assert store.active_model_id() == new
    record = store.model_decisions(new)[0]
    assert (record["decided_by"], record["override"], record["previous_active_id"]) == \
        ("ana", 0, old)
    assert any("Carried out by **ana**" in c.value for c in page.caption)
    assert not [b for b in page.button if b.label.startswith("Apply")]  # done once


def test_override_records_who_and_why(compared):
    store, old, new, _ = compared
    page = _page()
    _button(page, "Override: discard").click().run()
    assert any("say who overrides" in e.value for e in page.error)
    page.text_input(key=f"ov-who-{store.comparisons(limit=1)[0]['id']}").input("lead").run()
    _button(page, "Override: discard").click().run()
    assert any("needs a reason" in e.value for e in page.error)
    assert store.active_model_id() == old and store.model(new)["status"] == "trained"
    cid = store.comparisons(limit=1)[0]["id"]
    page.text_input(key=f"ov-why-{cid}").input("worse on the class we care about").run()
    _button(page, "Override: discard").click().run()
    assert store.model(new)["status"] == "discarded" and store.active_model_id() == old
    rec = store.model_decisions(new)[0]
    assert (rec["override"], rec["decided_by"], rec["why"]) == \
        (1, "lead", "worse on the class we care about")
    assert any("Overridden by **lead**" in c.value for c in page.caption)


def test_a_bad_config_shows_its_error_inline_and_starts_nothing(compared):
    store, *_ = compared
    page = _page()
    area = next(t for t in page.text_area if t.label == "Compare config (JSON)")
    area.input('{"wins": "most"}').run()
    assert any("wins: 'most' is not a number" in read(e.value) for e in page.error)
    assert _button(page, "Compare").disabled
    area.input('{"wins": "any"').run()
    assert any("not valid JSON" in e.value for e in page.error)
    area.input('{"wins": "any"}').run()
    assert any("Nothing stops a model that loses" in c.value for c in page.caption)
    assert not page.error
    assert store.jobs() == []


def test_the_dashboards_ap_equals_eval_coco_on_the_exported_files(compared, tmp_path, capsys):
    store, old, new, _ = compared
    report = comparison_report(store, store.comparisons(limit=1)[0]["id"])
    test_ids, _ = store.test_set_identity()
    gt = tmp_path / "test.json"
    gt.write_text(json.dumps(coco_instances(store, split="test")))
    for model, ap_of in ((new, lambda r: r.new_ap), (old, lambda r: r.old_ap)):
        dt = tmp_path / f"dt-{model}.json"
        dt.write_text(json.dumps(coco_results(store, model, test_ids)))
        capsys.readouterr()
        assert cli(["eval-coco", "--gt", str(gt), "--dt", str(dt), "--json"]) == 0
        reference = json.loads(capsys.readouterr().out)["per_class"]
        assert {r.name: ap_of(r) for r in report.rows} == \
            {name: v["ap"] for name, v in reference.items()}


def test_in_team_mode_the_override_is_the_signed_in_leads_never_a_typed_name(compared,
                                                                             monkeypatch):
    import ui.auth
    from al_core.team.accounts import add_user
    from al_core.team.signin import sign_in
    store, old, new, _ = compared
    add_user(store, "lena", "lead-password-1", "lead")
    token = sign_in(store, "lena", "lead-password-1", address="127.0.0.1").token
    monkeypatch.setattr(ui.auth, "session_cookie", lambda: token)
    page = _page(name="mallory")  # a name in the link or session counts for nothing
    cid = store.comparisons(limit=1)[0]["id"]
    assert not [t for t in page.text_input if t.key == f"ov-who-{cid}"]
    assert any("Overriding as **lena**" in c.value for c in page.caption)
    page.text_input(key=f"ov-why-{cid}").input("worse on the class we care about").run()
    _button(page, "Override: discard").click().run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    rec = store.model_decisions(new)[0]
    assert (rec["override"], rec["decided_by"]) == (1, "lena")
    assert [e.object_id for e in store.audit_entries(actor="lena",
                                                     action="decision.override")] == [str(new)]
