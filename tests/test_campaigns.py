"""Campaigns: the model, every exclusion reason of a plan, purity, Pinpoint JSON, the store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagekit import campaigns as cp
from engagekit.campaigns import REASONS, Campaign, plan_campaign
from engagekit.endpoints import normalize_endpoints
from engagekit.errors import DefinitionError
from engagekit.project import ProjectSettings
from engagekit.sample import generate_endpoints

NOW = "2026-11-02T08:00:00Z"


def _campaign(**over) -> Campaign:
    body = {
        "Name": "autumn",
        "SegmentId": "everyone",
        "Channel": "EMAIL",
        "HoldoutPercent": 0,
        "Treatments": [{"TemplateConfiguration": {"EmailTemplate": {"Name": "t0", "Version": 1}}}],
        "Schedule": {"StartTime": "2026-11-02T09:00:00Z", "Frequency": "ONCE"},
    }
    body.update(over)
    return Campaign.parse(body)


def _ab(n: int = 5, holdout: int = 10, **over) -> Campaign:
    size = (100 - holdout) // n
    treatments = [
        {
            "TreatmentName": f"variant {i}",
            "SizePercent": size if i else 100 - holdout - size * (n - 1),
            "TemplateConfiguration": {"EmailTemplate": {"Name": f"t{i}", "Version": 1}},
        }
        for i in range(n)
    ]
    return _campaign(HoldoutPercent=holdout, Treatments=treatments, **over)


def _endpoints(rows: list[dict]) -> pd.DataFrame:
    base = {"ChannelType": "EMAIL", "EndpointStatus": "ACTIVE", "OptOut": "NONE",
            "Demographic.Timezone": "Europe/Berlin"}  # fmt: skip
    return normalize_endpoints(pd.DataFrame([base | r for r in rows]))


def _reason_of(plan: pd.DataFrame, endpoint_id: str):
    row = plan[plan["endpoint_id"] == endpoint_id]
    assert len(row) == 1, endpoint_id
    value = row["reason"].iloc[0]
    return None if pd.isna(value) else value


# -- the plan's shape ---------------------------------------------------------------------------
def test_plan_has_the_contract_columns_and_dtypes():
    eps = generate_endpoints(2_000, seed=4)
    plan = plan_campaign(_ab(), eps, NOW, audience="all")
    assert tuple(plan.columns) == cp.PLAN_COLUMNS
    assert str(plan["due_at"].dtype) == "datetime64[us, UTC]"
    assert plan["holdout"].dtype == bool
    assert plan["campaign_version"].dtype == np.int64
    assert plan["template_version"].dtype == np.int64
    assert set(plan["status"].unique()) <= {"scheduled", "excluded"}
    assert set(plan["treatment_id"].unique()) == {"0", "1", "2", "3", "4", "holdout"}
    assert (plan["step"] == "send").all()
    # one row per audience endpoint of the campaign's channel
    assert len(plan) == int((eps["ChannelType"] == "EMAIL").sum())
    assert plan["endpoint_id"].is_unique


def test_every_excluded_row_has_a_reason_and_scheduled_rows_have_none():
    eps = generate_endpoints(3_000, seed=5)
    plan = plan_campaign(_ab(), eps, NOW, audience="all", suppressed=eps["Address"].iloc[:50])
    excluded = plan["status"] == "excluded"
    assert plan.loc[excluded, "reason"].notna().all()
    assert plan.loc[~excluded, "reason"].isna().all()
    assert set(plan["reason"].dropna().unique()) <= set(REASONS)


def test_holdout_rows_stay_in_the_plan_marked_and_never_scheduled():
    plan = plan_campaign(_ab(holdout=20), generate_endpoints(5_000, seed=6), NOW, audience="all")
    hold = plan[plan["holdout"]]
    assert (hold["treatment_id"] == "holdout").all()
    assert (hold["status"] == "excluded").all()
    assert 0.17 < len(hold) / len(plan) < 0.23
    assert set(hold["reason"]) >= {"HOLDOUT", "OPTED_OUT"}  # ineligible holdouts keep their reason


def test_treatments_carry_their_pinned_template_and_version():
    c = _ab(n=2, holdout=0)
    plan = plan_campaign(c, generate_endpoints(500, seed=1), NOW, audience="all")
    pairs = plan.groupby("treatment_id", observed=True)["template"].first().astype(str).to_dict()
    assert pairs == {"0": "t0", "1": "t1"}
    assert set(plan["template_version"]) == {1}


# -- exclusion reasons --------------------------------------------------------------------------
def test_each_exclusion_reason_is_recorded():
    eps = _endpoints(
        [
            {"Id": "ok", "Address": "ok@example.com", "User.UserId": "u-ok"},
            {"Id": "opted", "Address": "o@example.com", "OptOut": "ALL"},
            {"Id": "inactive", "Address": "i@example.com", "EndpointStatus": "INACTIVE"},
            {"Id": "noaddr", "Address": "  "},
            {"Id": "supp", "Address": "Bounced@Example.com"},
            {"Id": "total", "Address": "t@example.com"},
            {"Id": "daily", "Address": "d@example.com"},
            {"Id": "sms", "ChannelType": "SMS", "Address": "+4930123456"},
        ]
    )
    history = pd.DataFrame(
        {
            "run_id": ["r1", "r2", "r3"],
            "endpoint_id": ["total", "total", "daily"],
            "campaign": ["autumn"] * 3,
            "status": ["sent", "failed", "sent"],  # a failed send still counts
            "created_at": ["2026-10-01T09:00Z", "2026-10-08T09:00Z", "2026-11-01T20:00Z"],
        }
    )
    c = _campaign(Limits={"Daily": 1, "Total": 2})
    plan = plan_campaign(c, eps, NOW, history, audience="all", suppressed={"bounced@example.com"})
    assert "sms" not in set(plan["endpoint_id"])  # other channels are not in the audience
    assert {e: _reason_of(plan, e) for e in plan["endpoint_id"]} == {
        "ok": None,
        "opted": "OPTED_OUT",
        "inactive": "INACTIVE",
        "noaddr": "NO_ADDRESS",
        "supp": "SUPPRESSED",
        "total": "TOTAL_LIMIT",
        "daily": "DAILY_LIMIT",
    }


def test_skipped_ledger_rows_and_rows_of_the_same_run_do_not_count_toward_limits():
    eps = _endpoints([{"Id": "a", "Address": "a@example.com"}])
    history = pd.DataFrame(
        {
            "run_id": ["old", "autumn-20261102T090000Z"],
            "endpoint_id": ["a", "a"],
            "campaign": ["autumn", "autumn"],
            "status": ["skipped", "sent"],
            "created_at": ["2026-11-01T20:00Z", "2026-11-02T07:59Z"],
        }
    )
    plan = plan_campaign(
        _campaign(Limits={"Daily": 1}), eps, NOW, history, audience="all",
        run_id="autumn-20261102T090000Z",
    )  # fmt: skip
    assert _reason_of(plan, "a") is None


def test_project_caps_per_user_count_messages_in_this_plan_and_other_campaigns():
    eps = _endpoints(
        [
            {"Id": "u1-a", "Address": "a@example.com", "User.UserId": "u1"},
            {"Id": "u1-b", "Address": "b@example.com", "User.UserId": "u1"},
            {"Id": "u2-a", "Address": "c@example.com", "User.UserId": "u2"},
            {"Id": "u2-sms", "ChannelType": "SMS", "Address": "+1", "User.UserId": "u2"},
            {"Id": "u3-a", "Address": "d@example.com", "User.UserId": "u3"},
        ]
    )
    # u2 got an SMS from another campaign today (the ledger knows endpoints, not users)
    history = pd.DataFrame(
        {"endpoint_id": ["u2-sms"], "campaign": ["other"], "status": ["sent"],
         "created_at": ["2026-11-02T06:00Z"]}
    )  # fmt: skip
    daily = ProjectSettings(name="p", limits={"max_per_user_per_day": 1})
    plan = plan_campaign(_campaign(), eps, NOW, history, audience="all", settings=daily)
    assert [_reason_of(plan, e) for e in ("u1-a", "u1-b", "u2-a", "u3-a")] == [
        None, "USER_DAILY_LIMIT", "USER_DAILY_LIMIT", None,
    ]  # fmt: skip
    per_campaign = ProjectSettings(name="p", limits={"max_per_user_per_campaign": 1})
    plan = plan_campaign(_campaign(), eps, NOW, history, audience="all", settings=per_campaign)
    assert [_reason_of(plan, e) for e in ("u1-a", "u1-b", "u2-a")] == [
        None, "USER_CAMPAIGN_LIMIT", None,
    ]  # fmt: skip


def test_quiet_time_skips_or_defers_in_the_endpoint_local_time():
    eps = _endpoints(
        [
            {"Id": "berlin", "Address": "b@example.com", "Demographic.Timezone": "Europe/Berlin"},
            {"Id": "tokyo", "Address": "t@example.com", "Demographic.Timezone": "Asia/Tokyo"},
            {"Id": "nozone", "Address": "n@example.com", "Demographic.Timezone": None},
        ]
    )
    # 21:30Z is 22:30 in Berlin (quiet), 06:30 in Tokyo (quiet), and the endpoint without a zone
    # is not subject to quiet time (Pinpoint's rule)
    schedule = {"StartTime": "2026-11-02T21:30:00Z", "Frequency": "ONCE",
                "QuietTime": {"Start": "22:00", "End": "07:00"}}  # fmt: skip
    plan = plan_campaign(_campaign(Schedule=schedule), eps, NOW, audience="all")
    assert [_reason_of(plan, e) for e in ("berlin", "tokyo", "nozone")] == [
        "QUIET_TIME", "QUIET_TIME", None,
    ]  # fmt: skip
    deferred = plan_campaign(
        _campaign(Schedule=schedule | {"QuietTimeMode": "DEFER"}), eps, NOW, audience="all"
    )
    assert deferred["reason"].isna().all()
    due = dict(
        zip(deferred["endpoint_id"], deferred["due_at"].dt.strftime("%m-%dT%H:%MZ"), strict=True)
    )
    assert due == {"berlin": "11-03T06:00Z", "tokyo": "11-02T22:00Z", "nozone": "11-02T21:30Z"}
    # deferred longer than MaximumDuration: the message would expire, so it is not sent
    short = plan_campaign(
        _campaign(Schedule=schedule | {"QuietTimeMode": "DEFER"}, Limits={"MaximumDuration": 3600}),
        eps, NOW, audience="all",
    )  # fmt: skip
    assert [_reason_of(short, e) for e in ("berlin", "tokyo", "nozone")] == [
        "QUIET_TIME", None, None,
    ]  # fmt: skip


def test_project_quiet_time_applies_unless_the_campaign_overrides_it():
    eps = _endpoints([{"Id": "a", "Address": "a@example.com"}])
    settings = ProjectSettings(name="p", quiet_time={"Start": "09:00", "End": "12:00"})
    c = _campaign()  # 09:00Z = 10:00 in Berlin
    assert _reason_of(plan_campaign(c, eps, NOW, audience="all", settings=settings), "a") == (
        "QUIET_TIME"
    )
    override = _campaign(Schedule={"StartTime": "2026-11-02T09:00:00Z", "Frequency": "ONCE",
                                   "QuietTime": {"Start": "23:00", "End": "06:00"}})  # fmt: skip
    assert _reason_of(plan_campaign(override, eps, NOW, audience="all", settings=settings),
                      "a") is None  # fmt: skip


def test_local_time_schedule_fires_in_waves_and_skips_waves_already_over():
    eps = _endpoints(
        [
            {"Id": "ny", "Address": "n@example.com", "Demographic.Timezone": "America/New_York"},
            {"Id": "berlin", "Address": "b@example.com"},
            {"Id": "auckland", "Address": "a@example.com",
             "Demographic.Timezone": "Pacific/Auckland"},
        ]
    )  # fmt: skip
    sched = {"StartTime": "2026-11-02T09:00:00", "Frequency": "DAILY", "IsLocalTime": True,
             "Timezone": "America/New_York"}  # fmt: skip
    c = _campaign(Schedule=sched)
    plan = plan_campaign(c, eps, "2026-11-01T12:00Z", audience="all",
                         occurrence="2026-11-02T09:00:00-05:00")  # fmt: skip
    due = dict(zip(plan["endpoint_id"], plan["due_at"].dt.strftime("%m-%dT%H:%MZ"), strict=True))
    assert due == {"ny": "11-02T14:00Z", "berlin": "11-02T08:00Z", "auckland": "11-01T20:00Z"}
    assert plan["reason"].isna().all()
    late = plan_campaign(c, eps, "2026-11-02T10:00Z", audience="all",
                         occurrence="2026-11-02T09:00:00-05:00")  # fmt: skip
    assert [_reason_of(late, e) for e in ("ny", "berlin", "auckland")] == [
        None, "LOCAL_TIME_PASSED", "LOCAL_TIME_PASSED",
    ]  # fmt: skip


def test_a_b_treatments_may_differ_in_schedule():
    treatments = [
        {"SizePercent": 50, "TemplateConfiguration": {"EmailTemplate": {"Name": "t"}}},
        {"SizePercent": 50, "TemplateConfiguration": {"EmailTemplate": {"Name": "t"}},
         "Schedule": {"StartTime": "2026-11-02T18:00:00Z", "Frequency": "ONCE"}},
    ]  # fmt: skip
    plan = plan_campaign(_campaign(Treatments=treatments), generate_endpoints(400, seed=2),
                         NOW, audience="all")  # fmt: skip
    due = plan.groupby("treatment_id", observed=True)["due_at"].unique()
    assert [list(v) for v in due] == [
        [pd.Timestamp("2026-11-02T09:00Z")],
        [pd.Timestamp("2026-11-02T18:00Z")],
    ]


def test_schedule_end_is_local_time_for_local_schedules_and_catches_deferred_messages():
    eps = _endpoints([{"Id": "la", "Address": "l@example.com",
                       "Demographic.Timezone": "America/Los_Angeles"},
                      {"Id": "berlin", "Address": "b@example.com"}])  # fmt: skip
    # local time: 09:00 is before the 12:00 end in every zone, so nobody is outside
    local = {"StartTime": "2026-11-02T09:00:00", "EndTime": "2026-11-02T12:00:00",
             "Frequency": "ONCE", "IsLocalTime": True, "Timezone": "UTC"}  # fmt: skip
    plan = plan_campaign(_campaign(Schedule=local), eps, "2026-11-01T00:00Z", audience="all")
    assert plan["reason"].isna().all()
    # a message deferred past quiet time lands after the end: it is not sent
    deferred = local | {"StartTime": "2026-11-02T06:30:00", "QuietTimeMode": "DEFER",
                        "QuietTime": {"Start": "22:00", "End": "12:30"}}  # fmt: skip
    plan = plan_campaign(_campaign(Schedule=deferred), eps, "2026-11-01T00:00Z", audience="all")
    assert [_reason_of(plan, e) for e in ("la", "berlin")] == ["OUTSIDE_SCHEDULE"] * 2


def test_event_triggered_campaign_plans_matching_endpoints_at_their_event_time():
    eps = _endpoints([{"Id": f"e{i}", "Address": f"{i}@example.com"} for i in range(3)])
    events = pd.DataFrame(
        {
            "event_type": ["cart.abandoned", "_session.start", "cart.abandoned"],
            "event_timestamp": pd.to_datetime(
                ["2026-11-02T07:00Z", "2026-11-02T07:10Z", "2026-11-02T07:20Z"], utc=True
            ),
            "endpoint_id": ["e0", "e1", "e2"],
            "attributes": [{"plan": "pro"}, {"plan": "pro"}, {"plan": "free"}],
            "metrics": [{}, {}, {}],
        }
    )
    sched = {"Frequency": "EVENT", "StartTime": "2026-11-01T00:00:00Z",
             "EventFilter": {"Dimensions": {
                 "EventType": {"Values": ["cart.abandoned"]},
                 "Attributes": {"plan": {"Values": ["pro"]}}}}}  # fmt: skip
    c = _campaign(Schedule=sched)
    plan = plan_campaign(c, eps, NOW, audience="all", events=events)
    assert plan["endpoint_id"].tolist() == ["e0"]
    assert plan["due_at"].iloc[0] == pd.Timestamp(NOW)  # sent now, the event has arrived
    with pytest.raises(DefinitionError, match="pass events="):
        plan_campaign(c, eps, NOW, audience="all")


# -- purity -------------------------------------------------------------------------------------
def test_same_inputs_give_the_same_plan_and_inputs_are_not_mutated():
    eps = generate_endpoints(3_000, seed=9)
    history = pd.DataFrame(
        {"endpoint_id": eps["Id"].iloc[:300], "campaign": "autumn", "status": "sent",
         "created_at": "2026-11-01T12:00Z"}
    )  # fmt: skip
    suppressed = pd.Series(eps["Address"].iloc[300:320])
    audience = pd.Series(np.arange(len(eps)) % 3 != 0, index=eps.index)
    before = (eps.copy(deep=True), history.copy(deep=True), audience.copy(), suppressed.copy())
    c = _ab(Limits={"Daily": 1})
    args = dict(audience=audience, suppressed=suppressed)
    first = plan_campaign(c, eps, NOW, history, **args)
    second = plan_campaign(c, eps, NOW, history, **args)
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(eps, before[0])
    pd.testing.assert_frame_equal(history, before[1])
    pd.testing.assert_series_equal(audience, before[2])
    pd.testing.assert_series_equal(suppressed, before[3])


def test_reruns_and_later_runs_keep_everyone_in_their_arm():
    eps = generate_endpoints(4_000, seed=3)
    c = _ab(Schedule={"StartTime": "2026-11-02T09:00:00Z", "Frequency": "DAILY"})
    day1 = plan_campaign(c, eps, "2026-11-02T09:00Z", audience="all")
    grown = pd.concat([generate_endpoints(500, seed=77).assign(Id=lambda d: "new-" + d["Id"]),
                       eps], ignore_index=True)  # fmt: skip
    day2 = plan_campaign(c, grown, "2026-11-03T09:00Z", audience="all")
    a = day1.set_index("endpoint_id")["treatment_id"].astype(str)
    b = day2.set_index("endpoint_id")["treatment_id"].astype(str).loc[a.index]
    assert (a == b).all()
    assert day1["run_id"].iloc[0] != day2["run_id"].iloc[0]


def test_plan_allocation_passes_the_srm_check():
    eps = generate_endpoints(20_000, seed=11)
    c = _ab()
    plan = plan_campaign(c, eps, NOW, audience="all")
    assert not cp.allocation_check(plan, c).flagged


def test_segment_mask_is_the_audience():
    eps = generate_endpoints(1_000, seed=3)
    audience = eps["Location.Country"] == "DE"
    plan = plan_campaign(_campaign(), eps, NOW, audience=audience)
    expected = set(eps.loc[audience & (eps["ChannelType"] == "EMAIL"), "Id"])
    assert set(plan["endpoint_id"]) == expected


def test_planning_without_an_audience_or_project_is_refused():
    with pytest.raises(DefinitionError, match="no audience"):
        plan_campaign(_campaign(), generate_endpoints(10), NOW)


# -- direct messages ----------------------------------------------------------------------------
def test_direct_message_to_ids_and_unknown_addresses_goes_through_the_plan_path():
    eps = generate_endpoints(200, seed=1)
    email = eps[eps["ChannelType"] == "EMAIL"]
    targets = [email["Id"].iloc[0], email["Address"].iloc[1], "new.person@example.com"]
    plan = cp.plan_direct(eps, targets, channel="EMAIL", template="receipt", now=NOW,
                          suppressed=["new.person@example.com"])  # fmt: skip
    assert len(plan) == 3
    assert plan["due_at"].eq(pd.Timestamp(NOW)).all()
    assert _reason_of(plan, "new.person@example.com") == "SUPPRESSED"
    assert plan["run_id"].iloc[0].startswith("direct-")


def test_direct_messages_are_limited_to_15_recipients():
    with pytest.raises(DefinitionError, match="1–15 endpoint ids or addresses, got 16"):
        cp.plan_direct(generate_endpoints(10), [f"x{i}@example.com" for i in range(16)],
                       channel="EMAIL", template="t", now=NOW)  # fmt: skip


# -- Pinpoint JSON ------------------------------------------------------------------------------
def test_campaign_round_trips_pinpoint_write_campaign_request():
    c = _ab(
        n=3,
        holdout=10,
        Schedule={"StartTime": "2026-11-02T09:00:00", "EndTime": "2026-12-02T09:00:00",
                  "Frequency": "WEEKLY", "IsLocalTime": True, "Timezone": "Europe/Berlin",
                  "QuietTime": {"Start": "22:00", "End": "07:00"}},
        Limits={"Daily": 1, "Total": 5, "MessagesPerSecond": 50, "MaximumDuration": 3600},
        Priority=2,
        Salt="autumn-2026",
    )  # fmt: skip
    doc = c.to_pinpoint()
    assert doc["HoldoutPercent"] == 10
    assert [t["SizePercent"] for t in doc["AdditionalTreatments"]] == [30, 30]
    assert doc["TemplateConfiguration"] == {"EmailTemplate": {"Name": "t0", "Version": "1"}}
    assert doc["Schedule"]["Timezone"] == "UTC+01"
    back = Campaign.from_pinpoint(doc)
    assert back.to_pinpoint() == doc
    assert back.sizes() == c.sizes() == [30, 30, 30]
    assert back.schedule.start == c.schedule.start
    assert back.schedule.timezone == "Europe/Berlin"
    assert back.allocation_salt == "autumn-2026"


def test_pinpoint_request_with_event_filter_and_inline_message_imports():
    request = {
        "Name": "cart-rescue",
        "SegmentId": "shoppers",
        "SegmentVersion": 2,
        "HoldoutPercent": 5,
        "MessageConfiguration": {"SMSMessage": {"Body": "Your cart misses you",
                                                "MessageType": "PROMOTIONAL"}},
        "Schedule": {"StartTime": "2026-11-01T00:00:00Z", "Frequency": "EVENT",
                     "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {
                         "EventType": {"DimensionType": "INCLUSIVE",
                                       "Values": ["cart.abandoned"]},
                         "Metrics": {"value": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL",
                                               "Value": 50.0}}}}},
        "Limits": {"Daily": 2},
    }  # fmt: skip
    c = Campaign.from_pinpoint(request)
    assert c.channel == "SMS" and c.sizes() == [95] and c.schedule.event_triggered
    assert c.to_pinpoint()["Schedule"]["EventFilter"] == request["Schedule"]["EventFilter"]


def test_export_refuses_engagekit_only_features_naming_the_field():
    c = _campaign(Schedule={"StartTime": "2026-11-02T09:00:00Z", "Frequency": "CRON",
                            "Cron": "0 9 * * MON"})  # fmt: skip
    with pytest.raises(DefinitionError, match=r"at Schedule\.Frequency: Pinpoint has no cron"):
        c.to_pinpoint()


def test_invalid_pinpoint_request_is_refused_by_the_service_model():
    with pytest.raises(DefinitionError, match="HoldoutPercent"):
        Campaign.from_pinpoint({"Name": "x", "SegmentId": "s", "HoldoutPercent": "ten"})


# -- bad definitions ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"HoldoutPercent": 20}, "Treatments.4.SizePercent", "must be 100, got 110"),
        ({"Treatments": [{"SizePercent": 16, "TemplateConfiguration": {"EmailTemplate": {
            "Name": "t"}}}] * 6, "HoldoutPercent": 4}, "Treatments", "at most 5 treatments"),
        ({"Schedule": {"StartTime": "2026-11-02T09:00:00Z", "EndTime": "2026-11-01T00:00:00Z",
                       "Frequency": "DAILY"}}, "Schedule.EndTime", "after StartTime"),
        ({"Schedule": {"StartTime": "2026-11-02T09:00:00", "Frequency": "DAILY",
                       "Timezone": "Europe/Berln"}}, "Schedule.Timezone", "IANA name"),
        ({"Schedule": {"QuietTime": {"Start": "24:00", "End": "07:00"}}},
         "Schedule.QuietTime.Start", "pattern"),
        ({"Channel": "SMS"}, "Treatments.0.TemplateConfiguration", "channel SMS"),
        ({"Treatments": []}, "Treatments", "at least 1"),
        ({"Limits": {"MaximumDuration": 30}}, "Limits.MaximumDuration", "at least 60"),
    ],
)  # fmt: skip
def test_bad_definitions_fail_with_the_field_path(change, path, message):
    body = json.loads(_ab().model_dump_json(by_alias=True)) | change
    with pytest.raises(DefinitionError, match=message) as err:
        Campaign.parse(body)
    assert err.value.path == path


# -- the project store --------------------------------------------------------------------------
def _store_refs(project, templates=("t0", "t1", "t2", "t3", "t4")):
    from engagekit import segments
    from engagekit.templates import EmailTemplate, save_template

    segments.save_segment(project, segments.segment("everyone").channel("EMAIL").build())
    for name in templates:
        save_template(project, name, EmailTemplate(Subject=f"{name} for {{{{Address}}}}",
                                                   TextPart="Hello"))  # fmt: skip


def test_save_pins_versions_and_refuses_unknown_segment_or_template(project):
    with pytest.raises(DefinitionError, match="segment 'everyone' does not exist") as err:
        cp.save_campaign(project, _campaign())
    assert err.value.path == "SegmentId"
    _store_refs(project, templates=("t0",))
    missing = _ab(n=2)
    with pytest.raises(DefinitionError, match="template 't1' does not exist") as err:
        cp.save_campaign(project, missing)
    assert err.value.path == "Treatments.1.TemplateConfiguration.EmailTemplate.Name"
    c = _campaign(Treatments=[{"TemplateConfiguration": {"EmailTemplate": {"Name": "t0"}}}])
    assert cp.save_campaign(project, c) == 1
    loaded = cp.load_campaign(project, "autumn")
    assert loaded.segment_version == 1
    assert loaded.treatments[0].template_for("EMAIL").version == 1


def test_state_transitions_and_edit_rules(project):
    _store_refs(project)
    c = _ab(n=2, Schedule={"StartTime": "2026-11-02T09:00:00Z", "Frequency": "DAILY"})
    cp.save_campaign(project, c)
    # a draft may change anything
    cp.edit_campaign(project, "autumn", holdout_percent=15, treatments=(
        c.treatments[0].model_copy(update={"size_percent": 40}), c.treatments[1]))  # fmt: skip
    cp.launch(project, "autumn")
    with pytest.raises(DefinitionError, match="frequency of a launched campaign cannot change"):
        cp.edit_campaign(project, "autumn", schedule=c.schedule.model_copy(
            update={"frequency": "WEEKLY"}))  # fmt: skip
    with pytest.raises(DefinitionError, match="treatments and holdout of a launched A/B test"):
        launched = cp.load_campaign(project, "autumn").treatments
        cp.edit_campaign(project, "autumn", treatments=(launched[0].model_copy(
            update={"name": "renamed"}), launched[1]))  # fmt: skip
    cp.edit_campaign(project, "autumn", description="now with a description")
    assert cp.pause(project, "autumn").state == "paused"
    with pytest.raises(DefinitionError, match="paused; resume it first"):
        cp.plan_run(project, "autumn", NOW)
    assert cp.resume(project, "autumn").state == "scheduled"
    copy = cp.copy_campaign(project, "autumn", "autumn-copy")
    assert copy.state == "draft" and copy.allocation_salt == "autumn-copy"
    cp.delete(project, "autumn")
    assert list(cp.list_campaigns(project)["name"]) == ["autumn-copy"]
    with pytest.raises(DefinitionError, match="cannot go from completed to running"):
        cp.check_edit(copy.model_copy(update={"state": "completed"}),
                      copy.model_copy(update={"state": "running"}))  # fmt: skip


def test_plan_run_saves_the_plan_and_records_the_run(project):
    from engagekit.endpoints import write_endpoints

    _store_refs(project)
    eps = generate_endpoints(1_500, seed=8)
    write_endpoints(project, eps)
    cp.save_campaign(project, _ab(Limits={"MessagesPerSecond": 20}))
    cp.launch(project, "autumn")
    plan = cp.plan_run(project, "autumn", NOW)
    assert plan["campaign_version"].iloc[0] == 2  # the launched version
    again = cp.load_plan(project, plan["run_id"].iloc[0])
    pd.testing.assert_frame_equal(again, plan, check_categorical=False)
    assert again.attrs["plan"]["messages_per_second"] == 20
    assert len(cp.load_plans(project, "autumn")) == len(plan)
    runs = cp.run_history(project, "autumn")
    assert runs["run_id"].tolist() == [plan["run_id"].iloc[0]]
    assert runs["details"].iloc[0]["counts"]["rows"] == len(plan)
    assert runs["details"].iloc[0]["srm"]["flagged"] is False


def test_dry_run_returns_counts_and_rendered_previews_without_saving(project):
    from engagekit.endpoints import write_endpoints

    _store_refs(project)
    write_endpoints(project, generate_endpoints(1_000, seed=8))
    cp.save_campaign(project, _ab())
    dry = cp.plan_run(project, "autumn", NOW, dry_run=True, sample=2)
    assert isinstance(dry, cp.DryRun)
    assert dry.counts.loc["holdout", "HOLDOUT"] > 0
    assert dry.counts.values.sum() == len(dry.plan)
    assert sorted(dry.previews["treatment_id"].astype(str).unique()) == ["0", "1", "2", "3", "4"]
    assert (dry.previews.groupby("treatment_id", observed=True).size() == 2).all()
    first = dry.previews.iloc[0]
    assert first["Subject"] == f"t{first['treatment_id']} for {first['address']}"
    assert cp.run_history(project, "autumn").empty
    assert not (project.store.root / "plans").exists()


# -- command line -------------------------------------------------------------------------------
def test_campaigns_command_line(project, tmp_path, capsys):
    from engagekit.cli import main
    from engagekit.endpoints import write_endpoints

    _store_refs(project)
    write_endpoints(project, generate_endpoints(600, seed=2))
    file = tmp_path / "autumn.json"
    file.write_text(_ab().model_dump_json(by_alias=True), encoding="utf-8")
    p = ["--project", str(project.path)]
    assert main(["campaigns", "save", str(file), *p]) == 0
    assert main(["campaigns", "list", *p]) == 0
    assert "autumn" in capsys.readouterr().out
    assert main(["campaigns", "show", "autumn", "--pinpoint", *p]) == 0
    assert json.loads(capsys.readouterr().out)["HoldoutPercent"] == 10
    assert main(["campaigns", "plan", "autumn", "--dry-run", "--at", NOW, *p]) == 0
    assert "HOLDOUT" in capsys.readouterr().out
    assert main(["campaigns", "plan", "autumn", "--at", NOW, *p]) == 1  # still a draft
    assert "launch it first" in capsys.readouterr().err
    assert main(["campaigns", "launch", "autumn", *p]) == 0
    assert main(["campaigns", "plan", "autumn", "--at", NOW, *p]) == 0
    assert "planned run autumn-20261102T090000Z" in capsys.readouterr().out
    assert main(["campaigns", "history", "autumn", *p]) == 0
    assert "autumn-20261102T090000Z" in capsys.readouterr().out
    for action, state in (("pause", "paused"), ("resume", "scheduled")):
        assert main(["campaigns", action, "autumn", *p]) == 0
        assert f"is {state}" in capsys.readouterr().out
    assert main(["campaigns", "delete", "autumn", *p]) == 0
    assert main(["campaigns", "show", "autumn", *p]) == 1


def test_direct_run_in_a_project_pins_the_template_and_records_the_run(project):
    from engagekit.endpoints import write_endpoints

    _store_refs(project, templates=("t0",))
    eps = generate_endpoints(100, seed=4)
    write_endpoints(project, eps)
    target = eps.loc[eps["ChannelType"] == "EMAIL", "Id"].iloc[0]
    plan = cp.direct_run(project, [target], channel="EMAIL", template="t0", now=NOW)
    assert plan["template_version"].tolist() == [1]
    assert cp.run_history(project)["kind"].tolist() == ["direct"]
    with pytest.raises(DefinitionError, match="template 'nope' does not exist") as err:
        cp.direct_run(project, [target], channel="EMAIL", template="nope", now=NOW)
    assert err.value.path == "EmailTemplate.Name"


def test_ledger_history_feeds_the_limits(project):
    eps = _endpoints([{"Id": "a", "Address": "a@example.com", "User.UserId": "u"}])
    with project.store.transaction() as conn:
        conn.execute(
            "INSERT INTO ledger (run_id, endpoint_id, step, campaign, status, created_at, "
            "updated_at) VALUES ('r0', 'a', 'send', 'autumn', 'failed', ?, ?)",
            ("2026-11-02T07:00:00+00:00", "2026-11-02T07:00:01+00:00"),
        )
    history = cp.read_history(project)
    plan = plan_campaign(_campaign(Limits={"Daily": 1}), eps, NOW, history, audience="all")
    assert _reason_of(plan, "a") == "DAILY_LIMIT"


def test_event_campaign_run_reads_new_events_from_the_lake(project):
    from engagekit.endpoints import write_endpoints
    from engagekit.events import append_events

    _store_refs(project, templates=("t0",))
    eps = generate_endpoints(200, seed=4)
    write_endpoints(project, eps)
    email = eps.loc[eps["ChannelType"] == "EMAIL", "Id"].tolist()
    sched = {
        "Frequency": "EVENT",
        "StartTime": "2026-11-01T00:00:00Z",
        "EventFilter": {"Dimensions": {"EventType": {"Values": ["cart.abandoned"]}}},
    }
    cp.save_campaign(project, _campaign(Schedule=sched, State="scheduled"))  # fmt: skip
    append_events(
        project,
        [
            {"event_type": "cart.abandoned", "event_timestamp": "2026-11-02T07:00:00Z",
             "endpoint_id": email[0]},
            {"event_type": "_session.start", "event_timestamp": "2026-11-02T07:05:00Z",
             "endpoint_id": email[1]},
        ],
    )  # fmt: skip
    plan = cp.plan_run(project, "autumn", NOW)
    assert plan["endpoint_id"].tolist() == [email[0]]
    append_events(
        project,
        [
            {
                "event_type": "cart.abandoned",
                "event_timestamp": "2026-11-02T08:30:00Z",
                "endpoint_id": email[2],
            }
        ],
    )
    later = cp.plan_run(project, "autumn", "2026-11-02T09:00:00Z")  # only events since the last run
    assert later["endpoint_id"].tolist() == [email[2]]


def test_suppression_matches_addresses_case_and_space_insensitively():
    eps = _endpoints(
        [
            {"Id": "upper", "Address": "ADA@Example.com"},
            {"Id": "spaced", "Address": " grace@example.com\t"},
            {"Id": "umlaut", "Address": "JÖRG@example.de"},
            {"Id": "other", "Address": "linus@example.com"},
        ]
    )
    plan = plan_campaign(
        _campaign(), eps, NOW, audience="all",
        suppressed=["ada@example.com", "Grace@Example.com ", "jörg@example.de"],
    )  # fmt: skip
    assert [_reason_of(plan, e) for e in ("upper", "spaced", "umlaut", "other")] == [
        "SUPPRESSED", "SUPPRESSED", "SUPPRESSED", None,
    ]  # fmt: skip


def test_pinpoint_campaign_response_imports_with_its_state():
    response = {
        "Id": "7e8b", "ApplicationId": "app", "Arn": "arn:aws:mobiletargeting:...",
        "CreationDate": "2026-10-01T00:00:00Z", "LastModifiedDate": "2026-10-02T00:00:00Z",
        "Version": 3, "State": {"CampaignStatus": "PAUSED"}, "Name": "winback",
        "SegmentId": "lapsed", "SegmentVersion": 1, "HoldoutPercent": 0,
        "TemplateConfiguration": {"EmailTemplate": {"Name": "winback", "Version": "2"}},
        "AdditionalTreatments": [{"Id": "t1", "SizePercent": 50, "TreatmentName": "B",
                                  "State": {"CampaignStatus": "PAUSED"},
                                  "TemplateConfiguration": {"EmailTemplate": {
                                      "Name": "winback-b"}}}],
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
    }  # fmt: skip
    c = Campaign.from_pinpoint(response)
    assert c.state == "paused" and c.sizes() == [50, 50]
    assert c.treatments[0].template_for("EMAIL").version == 2
    assert c.treatments[1].name == "B"


def test_arms_table_lists_treatments_and_holdout():
    arms = _ab(n=2, holdout=10).arms()
    assert arms["treatment_id"].tolist() == ["0", "1", "holdout"]
    assert arms["percent"].tolist() == [45, 45, 10]
    assert arms["template"].tolist()[:2] == ["t0", "t1"]


def test_plan_with_a_project_evaluates_the_pinned_segment(project):
    from engagekit import segments

    segments.save_segment(project, segments.segment("everyone").country("DE").build())
    eps = generate_endpoints(800, seed=6)
    plan = plan_campaign(_campaign(SegmentVersion=1), eps, NOW, project=project)
    expected = eps.loc[(eps["Location.Country"] == "DE") & (eps["ChannelType"] == "EMAIL"), "Id"]
    assert set(plan["endpoint_id"]) == set(expected)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=60),
    seed=st.integers(min_value=0, max_value=10_000),
    holdout=st.sampled_from([0, 10, 50]),
    daily=st.sampled_from([None, 1]),
    quiet=st.booleans(),
)
def test_plan_invariants_hold_for_any_frame(n, seed, holdout, daily, quiet):
    eps = generate_endpoints(max(n, 1), seed=seed).iloc[:n]
    rng = np.random.default_rng(seed)
    audience = pd.Series(rng.random(len(eps)) < 0.8, index=eps.index)
    history = pd.DataFrame(
        {"endpoint_id": eps["Id"].iloc[: n // 3], "campaign": "autumn", "status": "sent",
         "created_at": "2026-11-02T07:00Z"}
    )  # fmt: skip
    sched = {"StartTime": "2026-11-02T09:00:00", "Frequency": "ONCE", "IsLocalTime": True,
             "Timezone": "UTC"}  # fmt: skip
    if quiet:
        sched["QuietTime"] = {"Start": "08:00", "End": "12:00"}
    c = _ab(n=3, holdout=holdout, Schedule=sched, Limits={"Daily": daily} if daily else {})
    plan = plan_campaign(c, eps, "2026-11-01T00:00Z", history, audience=audience)
    email = audience & (eps["ChannelType"] == "EMAIL")
    assert len(plan) == int(email.sum())
    assert set(plan["endpoint_id"]) == set(eps.loc[email, "Id"])
    assert (plan["status"] == "scheduled").eq(plan["reason"].isna()).all()
    assert not (plan["holdout"] & (plan["status"] == "scheduled")).any()
    assert (plan["holdout"] == (plan["treatment_id"] == "holdout")).all()
    assert plan["due_at"].notna().all()
    # the arm depends on the user only
    arms = plan.groupby("user_id", observed=True)["treatment_id"].nunique()
    assert (arms <= 1).all()


def test_a_planned_run_keeps_its_plan_unless_replanned(project):
    from engagekit.endpoints import write_endpoints

    _store_refs(project)
    eps = generate_endpoints(600, seed=3)
    write_endpoints(project, eps)
    cp.save_campaign(project, _ab(State="scheduled"))
    first = cp.plan_run(project, "autumn", NOW)
    scheduled = first.loc[first["status"] == "scheduled", "address"].iloc[0]
    with project.store.transaction() as conn:
        conn.execute(
            "INSERT INTO suppression (address, reason, created_at) VALUES (?, 'BOUNCE', ?)",
            (scheduled.lower(), NOW),
        )
    again = cp.plan_run(project, "autumn", "2026-11-02T08:30:00Z")
    pd.testing.assert_frame_equal(again, first, check_categorical=False)
    fresh = cp.plan_run(project, "autumn", NOW, replan=True)
    assert fresh.loc[fresh["address"] == scheduled, "reason"].tolist() == ["SUPPRESSED"]
