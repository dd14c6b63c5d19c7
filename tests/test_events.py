"""Events: model, append, idempotence, rejects, lake layout and reads."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engagekit.events import Event, append_events, lake, read_events, to_pinpoint, to_row

SESSION_STOP = {
    "event_type": "_session.stop",
    "event_timestamp": 1762164000000,  # 2025-11-03T10:00:00Z
    "arrival_timestamp": 1762164001000,
    "event_version": "3.0",
    "application": {"app_id": "app-1", "sdk": {"name": "aws-sdk-js", "version": "1.0"}},
    "client": {"client_id": "ep-1", "cognito_id": "cog-1"},
    "device": {
        "locale": {"code": "en_US", "country": "US", "language": "en"},
        "make": "Apple",
        "model": "iPhone15,2",
        "platform": {"name": "ios", "version": "17.1"},
    },
    "session": {
        "session_id": "s-1",
        "start_timestamp": 1762163400000,
        "stop_timestamp": 1762164000000,
    },
    "attributes": {"campaign_id": "spring", "treatment_id": "0", "screen": "home"},
    "metrics": {"_quantity": 2, "dwell": 3.5},
}


def test_pinpoint_json_becomes_flat_row_with_promoted_keys():
    row = to_row(SESSION_STOP)
    assert row["endpoint_id"] == "ep-1"
    assert row["campaign_id"] == "spring"
    assert row["treatment_id"] == "0"
    assert row["quantity"] == 2.0
    assert row["attributes"] == {"screen": "home"}
    assert row["metrics"] == {"dwell": 3.5}
    assert row["platform"] == "ios"
    assert row["country"] == "US"


def test_lake_row_converts_back_to_the_same_pinpoint_json(project):
    append_events(project, [SESSION_STOP])
    row = read_events(project).iloc[0].to_dict()
    back = to_pinpoint(row)
    for key in (
        "event_type",
        "event_timestamp",
        "arrival_timestamp",
        "application",
        "session",
        "attributes",
        "metrics",
    ):
        assert back[key] == SESSION_STOP[key], key
    assert back["device"] == SESSION_STOP["device"]
    assert back["client"] == SESSION_STOP["client"]
    assert Event.model_validate(back).session.session_id == "s-1"


def test_event_model_rejects_overlong_event_type():
    with pytest.raises(ValueError, match="at most 50 characters"):
        Event(event_type="x" * 51, event_timestamp=0)


def test_appending_the_same_events_twice_adds_nothing(project):
    first = append_events(project, [SESSION_STOP])
    second = append_events(project, [SESSION_STOP])
    assert (first.accepted, second.accepted, second.duplicates) == (1, 0, 1)
    assert len(read_events(project)) == 1


def test_events_land_in_hour_partitions_of_event_time(project):
    report = append_events(project, [SESSION_STOP])
    assert report.partitions == ["2025/11/03/10"]
    files = list((project.store.events_dir / "2025" / "11" / "03" / "10").glob("*.parquet"))
    assert len(files) == 1


def test_invalid_events_are_rejected_with_reasons_into_a_file(project):
    bad = [
        {"event_type": "", "event_timestamp": 1762164000000, "endpoint_id": "e"},
        {"event_type": "x", "event_timestamp": "yesterday", "endpoint_id": "e"},
        {"event_type": "x", "event_timestamp": 1762164000000},
        {
            "event_type": "x",
            "event_timestamp": 1762164000000,
            "endpoint_id": "e",
            "metrics": {"n": "many"},
        },
        "not an object",
        SESSION_STOP,
    ]
    report = append_events(project, bad)
    assert report.accepted == 1
    assert report.rejected == 5
    assert report.reasons == {
        "MISSING_EVENT_TYPE": 1,
        "BAD_TIMESTAMP": 1,
        "MISSING_IDENTITY": 1,
        "BAD_METRIC": 1,
        "NOT_AN_OBJECT": 1,
    }
    lines = [json.loads(x) for x in report.rejects_path.read_text().splitlines()]
    assert [x["row"] for x in lines] == [0, 1, 2, 3, 4]
    assert lines[1]["record"]["event_timestamp"] == "yesterday"


def test_dataframe_with_attribute_columns_is_folded_into_maps(project):
    df = pd.DataFrame(
        {
            "event_type": ["_email.open", "_email.open"],
            "event_timestamp": pd.to_datetime(["2026-11-01T10:00Z", "2026-11-01T11:30Z"]),
            "endpoint_id": ["ep-1", "ep-2"],
            "run_id": ["r1", "r1"],
            "attributes.link": ["a", None],
            "metrics.score": [1.0, 2.0],
        }
    )
    assert append_events(project, df).accepted == 2
    got = read_events(project, where={"run_id": "r1"})
    assert got["attributes"].tolist() == [{"link": "a"}, {}]
    assert got["metrics"].tolist() == [{"score": 1.0}, {"score": 2.0}]
    assert append_events(project, df).duplicates == 2


def test_read_events_prunes_by_time_and_filters_by_type(project):
    rows = [
        {"event_type": t, "event_timestamp": f"2026-11-0{d}T12:00:00Z", "endpoint_id": "ep-1"}
        for d in (1, 2, 3)
        for t in ("_session.start", "_email.open")
    ]
    append_events(project, rows)
    got = read_events(project, start="2026-11-02", end="2026-11-03", event_types="_email.open")
    assert len(got) == 1
    assert got["event_timestamp"].iloc[0] == pd.Timestamp("2026-11-02T12:00Z")


def test_lake_connection_has_events_endpoints_and_plans_views(project):
    con = lake(project)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (0,)
    assert con.execute('SELECT count(*) FROM endpoints WHERE "User.UserId" IS NULL').fetchone() == (
        0,
    )
    assert con.execute("SELECT count(*) FROM plans").fetchone() == (0,)
    append_events(project, [SESSION_STOP])
    con = lake(project)
    assert con.execute("SELECT campaign_id, metrics['dwell'] FROM events").fetchone() == (
        "spring",
        3.5,
    )


# -- generator and compaction ------------------------------------------------------------------
def test_generated_events_are_exact_in_count_deterministic_and_valid(project):
    from engagekit.events import generate_events
    from engagekit.sample import generate_endpoints

    endpoints = generate_endpoints(300, seed=4)
    a = generate_events(endpoints, 5_000, seed=4, days=5)
    b = generate_events(endpoints, 5_000, seed=4, days=5)
    assert len(a) == 5_000
    pd.testing.assert_frame_equal(a, b)
    report = append_events(project, a)
    assert (report.accepted, report.rejected) == (5_000, 0)
    counts = a["event_type"].value_counts()
    assert counts["_session.start"] == counts["_session.stop"]
    assert counts["view_item"] > counts["add_to_cart"] > counts["checkout_start"]
    assert counts["checkout_start"] >= counts["_monetization.purchase"] > 0
    buys = a[a["event_type"] == "_monetization.purchase"]
    assert buys["quantity"].between(1, 3).all() and (buys["item_price"] > 0).all()
    # every session starts before its other events
    first = a.sort_values("event_timestamp").groupby("session_id")["event_type"].first()
    assert (first == "_session.start").all()


def test_generated_plan_keeps_users_in_one_arm():
    from engagekit.events import generate_plan
    from engagekit.sample import generate_endpoints

    plan = generate_plan(generate_endpoints(2_000, seed=1), treatments=("0", "1"), holdout=0.2)
    assert set(plan["treatment_id"]) == {"0", "1", "holdout"}
    assert (plan.groupby("user_id")["treatment_id"].nunique() == 1).all()
    assert plan.loc[plan["holdout"], "status"].eq("excluded").all()
    assert plan["holdout"].mean() == pytest.approx(0.2, abs=0.05)


def test_compact_merges_a_partitions_files_and_keeps_rows(project):
    from engagekit.events import compact, lake_files

    for i in range(3):
        append_events(
            project,
            [
                {
                    "event_type": "x",
                    "event_timestamp": f"2026-11-01T10:0{i}:00Z",
                    "endpoint_id": f"ep-{i}",
                }
            ],
        )
    assert len(lake_files(project.store.events_dir)) == 3
    report = compact(project)
    assert (report.files_before, report.files_after, report.rows) == (3, 1, 3)
    assert len(lake_files(project.store.events_dir)) == 1
    assert len(read_events(project)) == 3
    assert (
        append_events(
            project,
            [{"event_type": "x", "event_timestamp": "2026-11-01T10:00:00Z", "endpoint_id": "ep-0"}],
        ).duplicates
        == 1
    )


def test_module_examples_run():
    import doctest

    import engagekit.analytics
    import engagekit.events._generate
    import engagekit.events._schema

    for module in (engagekit.events._schema, engagekit.events._generate, engagekit.analytics):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__


def test_many_small_appends_keep_a_partition_compact(project):
    from engagekit.events import lake_files
    from engagekit.events._lake import AUTO_COMPACT_FILES

    for i in range(AUTO_COMPACT_FILES + 5):
        append_events(
            project,
            [
                {
                    "event_type": "_email.send",
                    "endpoint_id": f"ep-{i}",
                    "event_timestamp": f"2026-11-01T10:{i % 60:02d}:00Z",
                }
            ],
        )
    files = lake_files(project.store.events_dir)
    assert len(files) < AUTO_COMPACT_FILES
    assert len(read_events(project)) == AUTO_COMPACT_FILES + 5
