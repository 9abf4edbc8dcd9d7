"""Compare: the precision-recall comparison dashboard. For a stored comparison of two
models on the frozen test set: per class, both PR curves with AP in the legend, the
per-class table, both mAPs with the paired bootstrap interval, the decision and the
rule that made it, the sentence of how much better and how sure (a warning when the
interval includes 0), and buttons to carry it out or override it (who and why are kept).
Any two models can be compared; the project's compare config is edited here. A project's
first model is active without a comparison (there is nothing to compare it with): the
page says so."""
import json
from functools import partial

import pandas as pd
import streamlit as st

from al_core.decide.compare import describe_rule, parse_compare_config
from al_core.decide.comparison_report import (ComparisonReport, comparison_report,
                                              report_sentence)
from al_core.decide.promotion import (carry_out, first_model_record, make_first_active,
                                      project_compare_config, save_compare_config)
from al_core.decide.retrain import labels_waiting_for_review, waiting_sentence
from al_core.formats.json_input import JsonInputError, parse_json
from al_core.jobs import runner as jobs
from al_core.permissions import PermissionDenied
from ui import auth, errors, params, state
from ui.charts import pr_chart, pr_frame
from ui.chrome import page_entry
from ui.flash import flash, show_flash
from ui.job_watch import running_jobs
from ui.text import md
from ui.timefmt import when

page_entry()

PAGE = "compare"  # its url path: the notices of its links

store = state.store()
st.title("Compare models")
show_flash()

models = {m["id"]: m for m in store.models()}
active = store.active_model_id()


def label(model_id: int | None) -> str:
    """The model's id and name as plain text (a selectbox option); ``md(label(...))`` in
    Markdown."""
    if model_id is None:
        return "no previous model"
    m = models[model_id]
    return f"#{model_id} {m['name']}" + (" (active)" if model_id == active else "")


def dash(value: float | None, fmt: str = "{:.3f}") -> str:
    return "—" if value is None else fmt.format(value)


def comparison_form() -> None:
    """Run the compare node on any two models; edit and keep the project's config."""
    candidates = [m for m in reversed(models.values())
                  if m["status"] in ("trained", "active", "discarded", "external")]
    new = old = None  # two models to compare, or none: the config is edited either way
    if not candidates:
        st.caption("Train a model first (Models page): a trained model is compared here.")
    elif len(candidates) < 2:
        st.caption(f"{md(label(candidates[0]['id']))} is the only model: train another "
                   "(Models page, Retrain) to compare it with.")
    else:
        waiting = [m["id"] for m in candidates if m["id"] != active]
        c1, c2 = st.columns(2)
        ids = [m["id"] for m in candidates]
        new = c1.selectbox("New model", ids, format_func=label,
                           index=ids.index(waiting[0]) if waiting else 0)
        olds = [i for i in ids if i != new]  # never "no model": that is no comparison
        old = c2.selectbox("Compared with", olds, format_func=label,
                           index=olds.index(active) if active in olds else 0)
    raw_text = st.text_area("Compare config (JSON)", height=110,
                            value=json.dumps(project_compare_config(store)),
                            help="Dataloop's format, plus min_map_gain, max_class_drop and "
                                 "bootstrap (docs/guide/compare.md). Unknown keys are refused.")
    try:
        raw = parse_json(raw_text, "The config", expect=dict)
        rule = describe_rule(parse_compare_config(raw))
    except JsonInputError as exc:  # too large, too deep, not JSON, not an object
        raw, rule = None, None
        st.error(f"{exc}.")
    except ValueError as exc:
        raw, rule = None, None
        st.error(f"The config is refused: {md(exc)}.")
    if rule:
        st.caption(md(rule))
    apply = st.checkbox("Carry out the decision as soon as it is made", value=False)
    b1, b2, _ = st.columns([1, 1, 3])
    if b1.button("Compare", type="primary", icon=":material/compare_arrows:",
                 disabled=raw is None or new is None or not auth.may("compare"),
                 help=auth.lacks("compare") or (None if new is not None else
                                                "Two models are needed.")):
        try:
            if apply and models[new]["status"] == "external":
                raise ValueError(f"model #{new} is an external model (imported predictions): "
                                 "untick the box to compare it")
            if apply and old != active:
                raise ValueError("a decision can only be carried out against the active "
                                 "model: pick it, or untick the box")
            job_id = jobs.start_job(store, "compare", {
                "new_model_id": new, "old_model_id": old, "config": raw, "apply": apply,
                "decided_by": st.session_state.get("annotator") or "app"})
        except (ValueError, PermissionDenied) as exc:
            st.error(errors.not_done("Not started", exc))
        else:
            flash("success", f"Comparing #{new} with {label(old)} (job {job_id}); the "
                             "dashboard below shows it when it ends.")
    if b2.button("Save as project config", disabled=raw is None or not auth.may("decide"),
                 help=auth.lacks("decide") or "Retrain and the CLI use it from now on."):
        try:
            save_compare_config(store, raw)
        except PermissionDenied as exc:
            st.error(errors.refusal(exc))
        else:
            flash("success", "Saved: retrains compare with this config from now on.")


def first_model_offer() -> None:
    """No model is active but some are trained (a project whose first model was trained
    before first models became active on their own): make one active, as the first."""
    trained = [m for m in reversed(models.values()) if m["status"] == "trained"]
    if active is not None or not trained:
        return
    st.info("No model is active. A project's first model becomes active when its training "
            "ends (there is nothing to compare it with); make a trained one active here, "
            "as the first.", icon=":material/info:")
    c1, c2, _ = st.columns([2, 1, 2], vertical_alignment="bottom")
    pick = c1.selectbox("Trained model", [m["id"] for m in trained], format_func=label,
                        key="first-pick")
    if c2.button("Make it active", icon=":material/check:", key="first-make",
                 disabled=not auth.may("decide"), help=auth.lacks("decide")):
        try:
            make_first_active(store, pick,
                              decided_by=st.session_state.get("annotator") or "app")
        except (ValueError, PermissionDenied) as exc:
            st.error(errors.not_done("", exc))
        else:
            flash("success", f"Model #{pick} is active, as the project's first model.")


def decision_box(r: ComparisonReport) -> None:
    c = r.comparison
    promote = c["decision"] == "update_model"
    old = md(label(c["old_model_id"]))
    text = (f"**update_model**: #{c['new_model_id']} should replace {old}" if promote else
            f"**discard**: #{c['new_model_id']} should not replace {old}")
    sure, noise = report_sentence(c)
    (st.success if promote else st.warning)(
        f"{text}. {md(sure) + '. ' if sure else ''}Why: {md(c['reason'])}.",
        icon=":material/gavel:")
    if noise:
        st.warning(noise, icon=":material/ssid_chart:")
    done = r.carried_out
    if done:
        how = "Overridden" if done["override"] else "Carried out"
        st.caption(f"{how} by **{md(done['decided_by'])}**, {when(done['created'])}"
                   + (f": “{md(done['why'])}”" if done["override"] else "."))
        return
    if not r.current_test_set:
        st.info("This comparison was made on an earlier test set (its labels changed since); "
                "compare again to decide.")
        return
    who = st.session_state.get("annotator") or ""
    b1, b2 = st.columns([1, 3], vertical_alignment="top")
    if b1.button(f"Apply: {c['decision']}", type="primary", icon=":material/check:",
                 disabled=not auth.may("decide"), help=auth.lacks("decide")):
        try:
            carry_out(store, c["id"], decided_by=who or "app")
        except (ValueError, PermissionDenied) as exc:
            st.error(errors.not_done("", exc))
        else:
            flash("success", f"Done: {c['decision']} for model #{c['new_model_id']}.")
    with b2.expander("Override the decision"):
        opposite = "discard" if promote else "update_model"
        signed_in = (auth.current() or auth.Visitor(team=False)).team
        if signed_in:  # team mode: the override is the signed-in user's, never a typed name
            name = who
            st.caption(f"Overriding as **{md(who)}**, the signed-in user.")
        else:
            name = st.text_input("Your name", value=who, key=f"ov-who-{c['id']}")
        why = st.text_input("Why", key=f"ov-why-{c['id']}",
                            placeholder="e.g. class 'car' matters more than the mAP")
        if st.button(f"Override: {opposite}", key=f"ov-{c['id']}",
                     disabled=not auth.may("decide"), help=auth.lacks("decide")):
            try:
                if not name.strip():
                    raise ValueError("say who overrides the decision")
                carry_out(store, c["id"], decided_by=params.person_name(name), override=True,
                          why=why)
            except (ValueError, PermissionDenied) as exc:
                st.error(errors.not_done("", exc))
            else:
                flash("success", f"Overridden: {opposite} for model #{c['new_model_id']}.")


def figures(r: ComparisonReport) -> None:
    c = r.comparison
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(f"mAP{r.iou_threshold * 100:g} new #{c['new_model_id']}", dash(c["new_map"]))
    if c["old_model_id"] is None:
        m2.metric("previous model", "none")
    else:
        delta = None if c["new_map"] is None or c["old_map"] is None \
            else c["new_map"] - c["old_map"]
        m2.metric(f"mAP{r.iou_threshold * 100:g} old #{c['old_model_id']}", dash(c["old_map"]),
                  delta=None if delta is None else f"{delta:+.3f} new vs old")
    if c["confidence"] is not None:
        m3.metric("P(new mAP higher)", f"{c['confidence']:.0%}",
                  help="Share of bootstrap resamples of the test images (paired: both models "
                       "scored on the same resampled images) where the new model's mAP is "
                       "higher.")
        m4.metric("95% interval, new − old", f"{c['delta_lo']:+.3f}",
                  delta=f"to {c['delta_hi']:+.3f}", delta_color="off", delta_arrow="off",
                  help="Paired bootstrap 95% interval of the mAP difference.")
    else:
        m3.metric("Bootstrap", "not run", help="This comparison's config has no bootstrap.")
    st.caption(f"Test set: {r.test_images:,} images, IoU {r.iou_threshold:g}; compared "
               f"{when(c['created'])} by {md(c['decided_by'])}.")


def class_table(r: ComparisonReport) -> pd.DataFrame:
    return pd.DataFrame([{
        "class": row.name, "AP new": dash(row.new_ap), "AP old": dash(row.old_ap),
        "delta": dash(row.delta, "{:+.3f}"), "won": "yes" if row.won else "no",
        "ground truth": row.num_gt} for row in r.rows])


def curves(r: ComparisonReport) -> pd.DataFrame:
    c = r.comparison
    st.subheader("Precision-recall per class")
    frames, columns = [], st.columns(3)
    for k, row in enumerate(r.rows):
        series = {}
        if row.new_curve:
            series[f"new #{c['new_model_id']} · AP {row.new_ap:.3f}"] = row.new_curve
        if row.old_curve and row.old_ap is not None:
            series[f"old #{c['old_model_id']} · AP {row.old_ap:.3f}"] = row.old_curve
        if not series:
            columns[k % 3].caption(f"{md(row.name)}: no curve stored")
            continue
        columns[k % 3].altair_chart(pr_chart(series, f"{row.name} ({row.num_gt} objects)"),
                                    width="stretch")
        frames.append(pr_frame(series).assign(**{"class": row.name}))
    return pd.concat(frames) if frames else pd.DataFrame()


stored = store.comparisons(limit=200)
waiting = labels_waiting_for_review(store)
if waiting:  # the models compared here learned without them
    st.caption(f":material/hourglass_top: {waiting_sentence(waiting)}.")
first_model_offer()
first = first_model_record(store)
if first:  # active with no comparison: said, so that no comparison is looked for
    # a box while nothing else is on the page; a line above comparisons made since
    (st.caption if stored else partial(st.info, icon=":material/flag:"))(
        f"Model {md(label(active))} is active as the project's first model, made active "
        f"by {md(first['decided_by'])} {when(first['created'])} with no comparison: "
        "there was nothing to compare it with. The next retrain is compared with it.")
with st.expander("Compare two models", expanded=not stored, icon=":material/compare_arrows:"):
    comparison_form()
running_jobs(("compare", "retrain"), key="compare")

if not stored:
    st.info("No comparison yet. Retrain on the Models page (it compares the new model with "
            "the active one), or compare two models above.")
    store.close()
    st.stop()
by_id = {c["id"]: c for c in stored}
ids = list(by_id)
try:  # a link's comparison (ui.params); a bad one is said and the newest shown instead
    asked = params.id_param("comparison", "comparison")
    if asked is not None and asked not in by_id:
        raise ValueError(f"there is no comparison #{asked} in this project")
except ValueError as exc:
    asked = None
    params.notice("comparison", PAGE, f"The link's comparison is not valid: {exc}. Showing "
                                      f"the newest, #{ids[0]}, instead.")
params.show_notices(PAGE)
pick = st.selectbox("Comparison", ids, index=ids.index(asked) if asked is not None else 0,
                    format_func=lambda i: f"{label(by_id[i]['new_model_id'])} vs "
                                          f"{label(by_id[i]['old_model_id'])} · "
                                          f"{by_id[i]['decision']} · {when(by_id[i]['created'])}")
if pick != (asked if asked is not None else ids[0]):
    params.forget("comparison")  # another one was picked
report = comparison_report(store, pick)
decision_box(report)
figures(report)
st.subheader("Per class")
table = class_table(report)
st.dataframe(table, hide_index=True, width="stretch")
pr = curves(report)
d1, d2, _ = st.columns([1, 1, 3])
d1.download_button("Per-class table (CSV)", table.to_csv(index=False),
                   file_name=f"comparison-{pick}.csv", mime="text/csv")
if not pr.empty:
    d2.download_button("PR curves (CSV)", pr.to_csv(index=False),
                       file_name=f"comparison-{pick}-pr.csv", mime="text/csv")
store.close()
