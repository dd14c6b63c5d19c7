"""The Spark SQL text of each analytics query gives the DuckDB answer.

sqlglot parses the Spark text (so it is valid Spark SQL syntax) and translates it to DuckDB;
running the translation over the same lake must give the same table as the native query.
"""

from __future__ import annotations

import pandas as pd
import pytest

from engagekit import analytics
from engagekit.campaigns import save_plan
from engagekit.endpoints import write_endpoints
from engagekit.events import (
    append_events,
    generate_campaign_events,
    generate_events,
    generate_plan,
    lake,
)
from engagekit.project import Project
from engagekit.sample import generate_endpoints

sqlglot = pytest.importorskip("sqlglot")

CASES = {
    "usage": {},
    "retention": {"days": (1, 2)},
    "countries": {},
    "demographics": {"dimension": "interests"},
    "event_metrics": {
        "event_type": "view_item",
        "attributes": {"category": "shoes"},
        "metric": "dwell_seconds",
    },
    "revenue": {},
    "funnel": {"steps": ["view_item", "add_to_cart", "checkout_start"], "window": "1h"},
    "funnel by platform": {"steps": ["view_item", "add_to_cart"], "window": "1h", "by": "platform"},
    "campaign_metrics": {"campaign": "c"},
    "experiment_frame": {"campaign": "c", "pre_window": "1D"},
}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    project = Project.create(tmp_path_factory.mktemp("spark") / "p", name="spark")
    endpoints = generate_endpoints(400, seed=2)
    write_endpoints(project, endpoints)
    append_events(project, generate_events(endpoints, 4_000, seed=2, days=4))
    plan = generate_plan(endpoints, campaign="c", due_at="2026-10-02T09:00Z")
    save_plan(project, plan)
    append_events(project, generate_campaign_events(plan, seed=1, lift={"1": 0.3}))
    return lake(project)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns[:3])).reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_spark_text_translated_to_duckdb_gives_the_same_result(con, name):
    params = CASES[name]
    name = name.split(" ")[0]
    spark = analytics.sql(name, dialect="spark", **params)
    native = _sorted(con.execute(analytics.sql(name, dialect="duckdb", **params)).df())
    translated = sqlglot.transpile(spark, read="spark", write="duckdb")[0]
    # Spark's xxhash64 (the user key) has no DuckDB spelling in the translator; hash() is the
    # same role (any 64-bit hash gives the same counts)
    translated = translated.replace("XXHASH64(", "HASH(")
    via_spark = _sorted(con.execute(translated).df())
    assert len(native) > 0
    if name == "funnel":  # Spark's unix_seconds is whole seconds
        pd.testing.assert_series_equal(native["users"], via_spark["users"])
        return
    pd.testing.assert_frame_equal(native, via_spark, check_dtype=False)


def test_heatmap_spark_text_parses_as_spark_sql():
    # the translator maps weekday() and from_utc_timestamp() loosely, so only parse it
    text = analytics.sql("heatmap", dialect="spark")
    assert sqlglot.parse_one(text, read="spark") is not None
    assert "from_utc_timestamp(" in text and "(weekday(" in text
