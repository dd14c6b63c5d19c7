"""Analytics over the lake: exact numbers on hand-made events, cross-checks against pandas on
generated events, campaign metrics from saved plans, and the experiment frame."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from engagekit import analytics
from engagekit.endpoints import write_endpoints
from engagekit.events import append_events, lake, read_events
from engagekit.events._generate import generate_campaign_events, generate_events
from engagekit.project import Project
from engagekit.sample import generate_endpoints

matplotlib.use("Agg")


def ev(etype: str, ts: str, user: str, **kw) -> dict:
    return {
        "event_type": etype,
        "event_timestamp": ts,
        "endpoint_id": f"ep-{user}",
        "user_id": user,
    } | kw


def make_plan(
    endpoints: pd.DataFrame,
    run_id: str = "r1",
    campaign: str = "spring",
    due: str = "2026-10-15T09:00Z",
    seed: int = 0,
) -> pd.DataFrame:
    emails = endpoints[endpoints["ChannelType"] == "EMAIL"].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    arm = rng.choice(["0", "1", "holdout"], size=len(emails), p=[0.45, 0.45, 0.1])
    return pd.DataFrame(
        {
            "run_id": run_id,
            "campaign": campaign,
            "campaign_version": 1,
            "treatment_id": arm,
            "holdout": arm == "holdout",
            "endpoint_id": emails["Id"].astype(str),
            "user_id": emails["User.UserId"].astype(str),
            "channel_type": "EMAIL",
            "address": emails["Address"].astype(str),
            "template": "welcome",
            "template_version": 1,
            "due_at": pd.Timestamp(due),
            "timezone": "UTC",
            "status": np.where(arm == "holdout", "excluded", "scheduled"),
            "reason": pd.array(np.where(arm == "holdout", "HOLDOUT", None), dtype="string"),
            "step": "send",
        }
    )


def save_plan(project: Project, plan: pd.DataFrame) -> None:
    folder = project.store.root / "plans"
    folder.mkdir(exist_ok=True)
    plan.to_parquet(folder / f"{plan['run_id'].iloc[0]}.parquet")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A project with 1,500 endpoints, 8 days of app events and one A/B campaign with lift."""
    project = Project.create(tmp_path_factory.mktemp("analytics") / "p", name="gen")
    endpoints = generate_endpoints(1_500, seed=3)
    write_endpoints(project, endpoints)
    append_events(project, generate_events(endpoints, 12_000, seed=3, days=8))
    plan = make_plan(endpoints, due="2026-10-04T09:00Z")
    save_plan(project, plan)
    append_events(project, generate_campaign_events(plan, seed=3, lift={"1": 0.5}))
    return project, endpoints, plan


# -- exact numbers on hand-made events -------------------------------------------------------------
def test_dau_mau_new_users_and_sticky_factor_on_known_events(project):
    append_events(
        project,
        [
            ev("_session.start", "2026-10-01T10:00Z", "a"),
            ev("_session.start", "2026-10-01T12:00Z", "a"),
            ev("_session.start", "2026-10-01T13:00Z", "b"),
            ev("_session.start", "2026-10-02T10:00Z", "a"),
            ev("_session.start", "2026-10-09T10:00Z", "c"),
            ev("_session.start", "2026-11-05T10:00Z", "b"),  # 35 days after b's first: a new block
        ],
    )
    daily = analytics.usage(project)
    assert daily.loc["2026-10-01", ["dau", "wau", "mau", "new_users", "sessions"]].tolist() == [
        2,
        2,
        2,
        2,
        3,
    ]
    assert daily.loc["2026-10-02", ["dau", "wau", "mau", "new_users"]].tolist() == [1, 2, 2, 0]
    # on 10-09: a (10-02) and b (10-01) are outside the 7-day window, inside the 30-day one
    assert daily.loc["2026-10-09", ["dau", "wau", "mau", "new_users"]].tolist() == [1, 1, 3, 1]
    # on 11-05: a's last day (10-02) is 34 days ago, c's (10-09) 27 days ago; b is back
    assert daily.loc["2026-11-05", ["dau", "mau", "new_users"]].tolist() == [1, 2, 0]
    assert daily.loc["2026-10-01", "sessions_per_user"] == pytest.approx(1.5)
    assert daily.loc["2026-10-09", "sticky_factor"] == pytest.approx(1 / 3)


def test_retention_cohorts_count_users_back_on_day_n(project):
    rows = [ev("_session.start", "2026-10-01T10:00Z", u) for u in "abcd"]
    rows += [ev("_session.start", "2026-10-02T10:00Z", u) for u in "ab"]  # day 1: a, b
    rows += [ev("_session.start", "2026-10-08T10:00Z", "c")]  # day 7: c
    rows += [ev("_session.start", "2026-10-05T10:00Z", "d")]  # day 4: d (rolling 7 only)
    rows += [ev("_session.start", "2026-10-20T10:00Z", "e")]  # a later cohort, observed last
    append_events(project, rows)
    exact = analytics.retention_cohorts(project, days=(1, 7))
    first = exact.loc["2026-10-01"]
    assert (first["users"], first["retained_1"], first["retained_7"]) == (4, 2, 1)
    assert first["rate_1"] == pytest.approx(0.5)
    assert np.isnan(exact.loc["2026-10-20", "rate_7"])  # not observed 7 days yet
    rolling = analytics.retention_cohorts(project, days=(7,), rolling=True)
    assert rolling.loc["2026-10-01", "retained_7"] == 4
    assert analytics.retention_rate(project, days=7) == pytest.approx(1.0)


def test_funnel_respects_order_window_and_attribute_filters(project):
    append_events(
        project,
        [
            ev("view_item", "2026-10-01T10:00Z", "a", attributes={"category": "shoes"}),
            ev("add_to_cart", "2026-10-01T10:05Z", "a"),
            ev("_monetization.purchase", "2026-10-01T10:10Z", "a", metrics={"_item_price": 10}),
            ev("view_item", "2026-10-01T10:00Z", "b", attributes={"category": "shoes"}),
            ev("add_to_cart", "2026-10-01T09:00Z", "b"),  # before the view: does not count
            ev("view_item", "2026-10-01T10:00Z", "c", attributes={"category": "shoes"}),
            ev("add_to_cart", "2026-10-01T13:00Z", "c"),  # outside a 1 h window
            ev("view_item", "2026-10-01T10:00Z", "d", attributes={"category": "hats"}),
            ev("add_to_cart", "2026-10-01T10:01Z", "d"),
        ],
    )
    steps = [
        {"event_type": "view_item", "attributes": {"category": "shoes"}, "name": "view"},
        "add_to_cart",
        "_monetization.purchase",
    ]
    f = analytics.funnel(project, steps, window="1h")
    assert f["users"].tolist() == [3, 1, 1]
    assert f["name"].tolist() == ["view", "add_to_cart", "_monetization.purchase"]
    assert f["drop_off"].tolist() == [0, 2, 0]
    assert f.loc[2, "conversion"] == pytest.approx(1 / 3)
    assert f.loc[2, "avg_seconds"] == pytest.approx(300)
    wide = analytics.funnel(project, steps, window="1D")
    assert wide["users"].tolist() == [3, 2, 1]


def test_revenue_per_user_paying_user_unit_and_purchase(project):
    append_events(
        project,
        [
            ev("_session.start", "2026-10-01T10:00Z", "a"),
            ev("_session.start", "2026-10-01T10:00Z", "b"),
            ev("_session.start", "2026-10-01T10:00Z", "c"),
            ev(
                "_monetization.purchase",
                "2026-10-01T10:01Z",
                "a",
                metrics={"_quantity": 2, "_item_price": 5.0},
                attributes={"_currency": "USD"},
            ),
            ev(
                "_monetization.purchase",
                "2026-10-01T10:02Z",
                "a",
                metrics={"_quantity": 1, "_item_price": 20.0},
                attributes={"_currency": "USD"},
            ),
            ev(
                "_monetization.purchase",
                "2026-10-01T10:03Z",
                "b",
                metrics={"_item_price": 30.0},
                attributes={"_currency": "USD"},
            ),
        ],
    )
    r = analytics.revenue(project).loc["2026-10-01"]
    assert r["revenue"] == pytest.approx(60.0)
    assert r["revenue_per_user"] == pytest.approx(20.0)  # 3 active users
    assert r["paying_users"] == 2
    assert r["revenue_per_paying_user"] == pytest.approx(30.0)
    assert r["units"] == pytest.approx(4)
    assert r["revenue_per_unit"] == pytest.approx(15.0)
    assert r["purchases"] == 3
    assert r["units_per_purchase"] == pytest.approx(4 / 3)


def test_event_metrics_filter_by_attribute_and_metric(project):
    append_events(
        project,
        [
            ev(
                "view_item",
                "2026-10-01T10:00Z",
                "a",
                session_id="s1",
                attributes={"category": "shoes"},
                metrics={"dwell": 5},
            ),
            ev(
                "view_item",
                "2026-10-01T10:01Z",
                "a",
                session_id="s1",
                attributes={"category": "shoes"},
                metrics={"dwell": 15},
            ),
            ev(
                "view_item",
                "2026-10-01T10:02Z",
                "b",
                session_id="s2",
                attributes={"category": "shoes"},
                metrics={"dwell": 25},
            ),
            ev(
                "view_item",
                "2026-10-01T10:03Z",
                "b",
                session_id="s2",
                attributes={"category": "hats"},
                metrics={"dwell": 100},
            ),
        ],
    )
    m = analytics.event_metrics(
        project, "view_item", attributes={"category": "shoes"}, metric="dwell", by="total"
    )
    row = m.iloc[0]
    assert (row["events"], row["users"], row["sessions"]) == (3, 2, 2)
    assert row["events_per_session"] == pytest.approx(1.5)
    assert (row["metric_min"], row["metric_max"]) == (5, 25)
    assert row["metric_avg"] == pytest.approx(15)
    hi = analytics.event_metrics(project, "view_item", metrics={"dwell": (">=", 20)}, by="total")
    assert hi.iloc[0]["events"] == 2
    per_category = analytics.event_metrics(project, "view_item", by="category")
    assert per_category["events"].to_dict() == {"hats": 1, "shoes": 3}


def test_session_heatmap_uses_each_users_local_time(project):
    endpoints = pd.DataFrame(
        {
            "Id": ["ep-tokyo", "ep-ny"],
            "User.UserId": ["t", "n"],
            "Demographic.Timezone": ["Asia/Tokyo", "America/New_York"],
        }
    )
    project.store.write_table("endpoints.parquet", pa.Table.from_pandas(endpoints))
    append_events(
        project,
        [
            # 2026-10-05 is a Monday; 00:00 UTC is 09:00 Monday in Tokyo, 20:00 Sunday in New York
            {
                "event_type": "_session.start",
                "event_timestamp": "2026-10-05T00:00Z",
                "endpoint_id": "ep-tokyo",
                "user_id": "t",
            },
            {
                "event_type": "_session.start",
                "event_timestamp": "2026-10-05T00:00Z",
                "endpoint_id": "ep-ny",
                "user_id": "n",
            },
            {
                "event_type": "_session.start",
                "event_timestamp": "2026-10-05T00:00Z",
                "endpoint_id": "ep-unknown",
                "user_id": "x",
            },  # no time zone: UTC
        ],
    )
    grid = analytics.session_heatmap(project)
    assert grid.shape == (7, 24)
    assert grid.loc["Mon", 9] == 1
    assert grid.loc["Sun", 20] == 1
    assert grid.loc["Mon", 0] == 1
    assert grid.to_numpy().sum() == 3


# -- cross-checks against pandas on generated data -------------------------------------------------
def test_usage_matches_pandas_on_generated_events(generated):
    project, _, _ = generated
    events = read_events(
        project, event_types="_session.start", columns=["user_id", "endpoint_id", "event_timestamp"]
    )
    uid = events["user_id"].fillna(events["endpoint_id"])
    day = events["event_timestamp"].dt.tz_convert(None).dt.normalize()
    expected_dau = pd.DataFrame({"uid": uid, "day": day}).drop_duplicates().groupby("day").size()
    daily = analytics.usage(project)
    got = daily["dau"]
    assert got.to_dict() == expected_dau.loc[got.index].to_dict()
    # MAU on the last day = distinct users active in the 30 days up to it
    last = daily.index.max()
    window = (day > last - pd.Timedelta(days=30)) & (day <= last)
    assert daily.loc[last, "mau"] == uid[window].nunique()
    first = pd.DataFrame({"uid": uid, "day": day}).groupby("uid")["day"].min()
    assert daily["new_users"].sum() == first.loc[first >= daily.index.min()].size


def test_funnel_and_revenue_match_pandas_on_generated_events(generated):
    project, _, _ = generated
    buys = read_events(project, event_types="_monetization.purchase")
    total = analytics.revenue(project, by="total").iloc[0]
    assert total["revenue"] == pytest.approx(
        float((buys["quantity"].fillna(1) * buys["item_price"].fillna(0)).sum())
    )
    assert total["purchases"] == len(buys)
    f = analytics.funnel(
        project,
        ["view_item", "add_to_cart", "checkout_start", "_monetization.purchase"],
        window="1D",
    )
    views = read_events(project, event_types="view_item")
    assert f["users"].iloc[0] == views["user_id"].nunique()
    assert (np.diff(f["users"].to_numpy()) <= 0).all()


def test_campaign_metrics_per_treatment_with_holdout_from_plans(generated):
    project, _, plan = generated
    m = analytics.campaign_metrics(project, "spring")
    assert set(m.index.get_level_values("treatment_id")) == {"0", "1", "holdout"}
    counts = plan.groupby("treatment_id").size()
    for arm in ("0", "1", "holdout"):
        assert m.loc[("spring", "r1", arm), "targeted"] == counts[arm]
    hold = m.loc[("spring", "r1", "holdout")]
    assert hold["holdout"] and hold["sent"] == 0 and np.isnan(hold["delivery_rate"])
    sends = read_events(project, event_types="_campaign.send", where={"treatment_id": "1"})
    row = m.loc[("spring", "r1", "1")]
    assert row["sent"] == sends["endpoint_id"].nunique()
    opens = read_events(project, event_types="_email.open", where={"treatment_id": "1"})
    assert row["open_rate"] == pytest.approx(opens["endpoint_id"].nunique() / row["delivered"])
    assert 0.9 < row["delivery_rate"] <= 1.0
    # the lift in arm 1 shows up as more purchases per user than the holdout
    assert row["purchases_per_user"] > hold["purchases_per_user"]
    per_campaign = analytics.campaign_metrics(project, by=("campaign",))
    assert per_campaign.loc["spring", "targeted"] == len(plan)


def test_experiment_frame_has_one_row_per_allocated_user_with_arm(generated):
    project, _, plan = generated
    frame = analytics.experiment_frame(project, "spring", window="7D", pre_window="7D")
    assert len(frame) == plan["user_id"].nunique()
    assert set(frame["arm"]) == {"0", "1", "holdout"}
    assert frame.loc[frame["arm"] == "holdout", "holdout"].all()
    assert frame.attrs["metrics"] == {
        "sessions": "mean",
        "purchases": "mean",
        "revenue": "mean",
        "conversion": "proportion",
    }
    # sessions of one user recomputed by hand
    user = frame.sort_values("sessions").iloc[-1]
    ev_user = read_events(project, event_types="_session.start", where={"user_id": user["user_id"]})
    since = user["since"]
    in_window = ev_user["event_timestamp"].between(
        since, since + pd.Timedelta("7D"), inclusive="left"
    )
    assert user["sessions"] == in_window.sum()
    assert set(frame["conversion"].unique()) <= {0.0, 1.0}
    means = frame.groupby("arm")["purchases"].mean()
    assert means["1"] > means["holdout"]


def test_experiment_frame_feeds_the_stats_engine(generated):
    stats = pytest.importorskip("engagekit.stats")
    project, _, _ = generated
    frame = analytics.experiment_frame(project, "spring")
    table = stats.analyze(frame, metrics=frame.attrs["metrics"])
    row = table[(table["metric"] == "purchases") & (table["arm"] == "1")].iloc[0]
    assert row["control"] == "holdout"
    assert row["diff"] > 0


def test_demographics_and_countries_count_endpoints(generated):
    project, endpoints, _ = generated
    d = analytics.demographics(project, "platform")
    assert d["endpoints"].to_dict() == endpoints["Demographic.Platform"].value_counts().to_dict()
    interests = analytics.demographics(project, "interests")
    pairs = endpoints[["Id", "Attributes.interests"]].explode("Attributes.interests")
    assert interests["endpoints"].sum() == len(pairs.dropna().drop_duplicates())
    with pytest.raises(ValueError, match="no column"):
        analytics.demographics(project, "Demographic.Nope")
    c = analytics.countries(project)
    assert c["users"].sum() > 0 and "US" in c.index


@pytest.mark.slow
def test_every_result_draws_its_chart(generated):
    project, _, _ = generated
    con = lake(project)
    results = [
        analytics.usage(con),
        analytics.retention_cohorts(con),
        analytics.session_heatmap(con),
        analytics.countries(con),
        analytics.demographics(con, "make"),
        analytics.event_metrics(con, "view_item"),
        analytics.revenue(con),
        analytics.funnel(con, ["view_item", "add_to_cart"]),
        analytics.campaign_metrics(con),
        analytics.campaign_heatmap(con, "spring"),
        analytics.overview(con),
    ]
    import matplotlib.pyplot as plt

    for result in results:
        ax = analytics.plot(result)
        assert ax.figure is not None
        plt.close(ax.figure)


def test_spark_sql_text_uses_spark_spellings():
    text = analytics.sql("usage", dialect="spark", start="2026-10-01", end="2026-11-01")
    assert "datediff(" in text and "date_diff(" not in text
    heat = analytics.sql("heatmap", dialect="spark")
    assert "from_utc_timestamp(" in heat and "`Demographic.Timezone`" in heat
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        analytics.sql("usage", dialect="oracle")


def test_every_query_answers_on_an_empty_project(project):
    assert analytics.usage(project).empty
    assert analytics.retention_cohorts(project).empty
    assert np.isnan(analytics.retention_rate(project))
    assert analytics.session_heatmap(project).to_numpy().sum() == 0
    assert analytics.funnel(project, ["a", "b"])["users"].tolist() == [0, 0]
    assert analytics.campaign_metrics(project).empty
    assert analytics.experiment_frame(project, "nothing").empty
    assert analytics.overview(project).loc["active_users", "value"] == 0


def test_campaign_metrics_follow_send_status_and_channel_outcomes(project):
    def msg(etype, endpoint, status=None, channel="EMAIL", ts="2026-10-05T09:00Z"):
        attrs = {"campaign_send_status": status} if status else {}
        return {
            "event_type": etype,
            "event_timestamp": ts,
            "endpoint_id": endpoint,
            "user_id": endpoint,
            "campaign_id": "c",
            "run_id": "r",
            "treatment_id": "0",
            "channel_type": channel,
            "attributes": attrs,
        }

    append_events(
        project,
        [
            msg("_campaign.send", "e1", "SUCCESS"),
            msg("_email.send", "e1"),
            msg("_email.delivered", "e1"),
            msg("_email.open", "e1"),
            msg("_email.open", "e1", ts="2026-10-05T11:00Z"),  # opened again later
            msg("_campaign.send", "e2", "FAILURE_PERMANENT"),
            msg("_email.rejected", "e2"),
            msg("_campaign.send", "s1", "SUCCESS", "SMS"),
            msg("_SMS.BUFFERED", "s1", None, "SMS"),
            msg("_SMS.SUCCESS", "s1", None, "SMS"),
            msg("_SMS.OPTOUT", "s1", None, "SMS"),
            msg("_campaign.send", "p1", "SUCCESS", "GCM"),
            msg("_push.send", "p1", None, "GCM"),
        ],
    )
    row = analytics.campaign_metrics(project).loc[("c", "r", "0")]
    assert (row["sent"], row["delivered"], row["failures"]) == (3, 3, 1)
    assert (row["opens"], row["total_opens"], row["opt_outs"]) == (1, 2, 1)
    assert row["open_rate"] == pytest.approx(1 / 3)
    assert row["targeted"] == 0  # no saved plan for this run: message metrics only


def test_date_ranges_read_only_overlapping_partitions_with_the_same_answer(generated):
    project, _, _ = generated
    full = lake(project)
    start, end = "2026-10-03T06:00", "2026-10-05T18:30"
    for fn in (analytics.revenue, analytics.countries, analytics.session_heatmap):
        pd.testing.assert_frame_equal(fn(project, start, end), fn(full, start, end))
    steps = ["view_item", "add_to_cart", "_monetization.purchase"]
    pd.testing.assert_frame_equal(
        analytics.funnel(project, steps, start, end, window="2h"),
        analytics.funnel(full, steps, start, end, window="2h"),
    )
    pd.testing.assert_frame_equal(
        analytics.event_metrics(project, "view_item", start, end),
        analytics.event_metrics(full, "view_item", start, end),
    )


def test_funnel_breakdown_by_entry_platform(project):
    append_events(
        project,
        [
            ev("view_item", "2026-10-01T10:00Z", "a", platform="ios"),
            ev("add_to_cart", "2026-10-01T10:05Z", "a", platform="android"),  # keeps entry's group
            ev("view_item", "2026-10-01T09:00Z", "b", platform="android"),
            ev("view_item", "2026-10-01T10:00Z", "b", platform="ios"),  # b entered on android
            ev("add_to_cart", "2026-10-01T09:30Z", "b"),
            ev("view_item", "2026-10-01T10:00Z", "c", platform="ios"),
        ],
    )
    f = analytics.funnel(project, ["view_item", "add_to_cart"], window="1h", by="platform")
    assert f["users"].to_dict() == {
        ("android", 1): 1,
        ("android", 2): 1,
        ("ios", 1): 2,
        ("ios", 2): 1,
    }
    assert f.loc[("ios", 2), "conversion"] == pytest.approx(0.5)
    import matplotlib.pyplot as plt

    plt.close(analytics.plot(f).figure)
    spark = analytics.sql("funnel", dialect="spark", steps=["a", "b"], by="platform")
    assert "min_by(g, t)" in spark
