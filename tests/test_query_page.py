"""The Query page, headless: the registry's strategies, a query job started from the
page, and its selection in the table."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from al_core.jobs import runner as jobs
from al_core.query.strategies import DEFAULT_STRATEGY, STRATEGIES
from tests.apptest import read

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def query_page(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page("pages/query.py").run()


def test_the_page_offers_the_registry_and_runs_a_cold_start_query(query_page, demo_store):
    box = query_page.selectbox[0]
    assert list(box.options) == [n + (" (needs a model)" if s.needs_model else "")
                                 for n, s in STRATEGIES.items()]
    assert box.value == DEFAULT_STRATEGY
    assert any("No active model yet" in m.value for m in query_page.markdown)
    query_page.number_input[0].set_value(6)
    query_page.button[0].click().run()
    assert any("al-iteration-1: 6 images by typicality" in read(s.value)
               for s in query_page.success)
    job = demo_store.jobs()[0]
    assert job["kind"] == "query" and jobs.wait_for(demo_store, job["id"])["status"] == "succeeded"
    query_page.run()
    table = next(d.value for d in query_page.dataframe if "random control" in d.value.columns)
    assert table.iloc[0]["tag"] == "al-iteration-1" and table.iloc[0]["random control"] == 1
    # the redrawn page: the batch left the pool and can be downloaded
    assert any("The pool holds **26** unlabeled" in m.value for m in query_page.markdown)
    assert query_page.selectbox[1].value == "al-iteration-1"
    assert query_page.get("download_button")


def test_a_refused_query_names_the_problem(query_page):
    query_page.number_input[0].set_value(10_000)
    query_page.button[0].click().run()
    assert any("pool has only" in e.value for e in query_page.error)
