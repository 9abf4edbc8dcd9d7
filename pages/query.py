"""Query: pick the next batch to label with a strategy from the registry (plus a random
control slice), as a job; the selections so far, each downloadable with its pre-labels."""
import json
import shlex
from dataclasses import asdict, replace

import pandas as pd
import streamlit as st

from al_core.decide.retrain import labels_waiting_for_review, waiting_sentence
from al_core.formats.export import coco_selection
from al_core.jobs import runner as jobs
from al_core.permissions import PermissionDenied
from al_core.query.round import DEFAULT_RANDOM_CONTROL, QuerySpec, plan_query
from al_core.query.strategies import COLD_START_STRATEGY, DEFAULT_STRATEGY, STRATEGIES
from al_core.store import Store
from ui import errors, params, state
from ui.chrome import page_entry
from ui.flash import flash, show_flash
from ui.fragments import fragment
from ui.job_watch import running_jobs
from ui.text import md, md_code
from ui.timefmt import when

page_entry()

store = state.store()
st.title("Query")
show_flash()

active = store.active_model_id()
pool = len(store.query_pool())
st.markdown((f"Active model **#{active}**: its predictions score the pool and become the "
             "batch's pre-labels." if active is not None else
             f"No active model yet: strategies that need one use **{COLD_START_STRATEGY}** "
             "on fixed image features (a cold start).")
            + f" The pool holds **{pool:,}** unlabeled images not waiting in a selection.")
waiting = labels_waiting_for_review(store)
if waiting:  # the active model (and the next one) learned without them
    st.caption(f":material/hourglass_top: {waiting_sentence(waiting)}.")

names = list(STRATEGIES)
with st.form("query"):
    strategy = st.selectbox("Strategy", names, index=names.index(DEFAULT_STRATEGY),
                            format_func=lambda n: n + (" (needs a model)"
                                                       if STRATEGIES[n].needs_model else ""))
    c1, c2, c3 = st.columns(3)
    add = c1.number_input("Images to pick", min_value=1, value=min(50, max(pool, 1)), step=1)
    control = c2.number_input("Random control share", min_value=0.0, max_value=0.9,
                              value=DEFAULT_RANDOM_CONTROL, step=0.05,
                              help="Drawn uniformly from the pool and marked, so the gain "
                                   "over random can be measured.")
    seed = c3.number_input("Seed", min_value=0, value=0, step=1)
    tag = st.text_input("Selection name (optional)", placeholder="al-iteration-N")
    submitted = st.form_submit_button("Query", type="primary", icon=":material/manage_search:")
with st.expander("What the strategies do"):
    for s in STRATEGIES.values():
        st.markdown(f"**{s.name}**: {s.description}")
if submitted:
    try:
        spec = QuerySpec(strategy=strategy, add=int(add), random_control=float(control),
                         seed=int(seed), tag=params.tag_value(tag) if tag.strip() else None)
        plan = plan_query(store, spec)
        job_id = jobs.start_job(store, "query", asdict(replace(spec, tag=plan.tag)))
    except (ValueError, PermissionDenied) as exc:
        st.error(errors.not_done("Not started", exc))
    else:
        flash("success", f"Query {plan.tag}: {plan.batch} images by {plan.strategy}, "
                         f"in job {job_id}.")


# a query job's progress; when it ends the whole page redraws (pool count, downloads)
running_jobs(("query",), key="query")


@fragment("the selections", run_every=2)
def selections_panel() -> None:
    with state.store() as s:
        failed = [j for j in s.jobs(limit=5) if j["kind"] == "query" and j["status"] == "failed"]
        if failed:
            st.caption(f"Last failed query job {failed[0]['id']}: {md(failed[0]['error'])}")
        st.subheader("Selections")
        rows = s.selections()
        if not rows:
            st.info("No selection yet.")
            return
        st.dataframe(pd.DataFrame([{
            "tag": r.tag, "round": r.round, "strategy": r.strategy,
            "model": f"#{r.model_id}" if r.model_id is not None else "none (cold start)",
            "images": r.size, "random control": r.control, "labeled": r.labeled,
            "created": when(r.created)} for r in reversed(rows)]), hide_index=True,
            width="stretch")


selections_panel()

tags = [s.tag for s in store.selections()]
if tags:
    pick = st.selectbox("Download a batch for an external labeling tool", tags[::-1])
    root, actor = store.root, store.actor_name

    def batch_json() -> str:
        with Store(root, actor=actor) as s:  # runs in the download's own thread, as this user
            return json.dumps(coco_selection(s, pick))

    st.download_button("Download COCO with pre-labels", icon=":material/download:",
                       data=batch_json, file_name=f"{root.name}-{pick}.coco.json",
                       mime="application/json")
    command = f"python -m al_core import --project DIR --selection {shlex.quote(pick)} --coco FILE"
    st.caption(f"Import the corrected file back with {md_code(command)}: exactly the batch's "
               "images are labeled.")
store.close()
