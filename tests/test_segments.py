from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engagekit.errors import DefinitionError
from engagekit.project import Project
from engagekit.sample import generate_endpoints
from engagekit.segments import (
    Segment,
    copy_segment,
    delete_segment,
    estimate,
    evaluate,
    list_segments,
    load_segment,
    members,
    save_segment,
    segment,
)

NOW = "2026-11-01T00:00:00Z"


@pytest.fixture(scope="module")
def endpoints() -> pd.DataFrame:
    return generate_endpoints(5_000, seed=11)


def _frame(**cols: list) -> pd.DataFrame:
    from engagekit.endpoints import normalize_endpoints

    n = len(next(iter(cols.values())))
    base = {"Id": [f"e{i}" for i in range(n)]}
    return normalize_endpoints(pd.DataFrame(base | cols))


def test_builder_reads_as_one_expression_and_round_trips_json() -> None:
    seg = (
        segment("berlin-email")
        .channel("EMAIL")
        .city("Berlin")
        .attribute("plan", "pro", "enterprise")
        .metric("visits", ">=", 3)
        .exclude("test-users")
        .build()
    )
    assert seg.segment_groups is not None
    assert seg.segment_groups.include == "ALL"
    assert seg.segment_groups.groups[-1].source_type == "NONE"
    again = Segment.model_validate_json(seg.model_dump_json())
    assert again == seg
    assert "null" not in seg.model_dump_json()


def test_evaluate_matches_a_plain_pandas_filter(endpoints: pd.DataFrame) -> None:
    seg = segment("s").channel("EMAIL").country("DE").metric("visits", ">", 5).build()
    got = evaluate(seg, endpoints)
    want = (
        (endpoints["ChannelType"] == "EMAIL")
        & (endpoints["Location.Country"] == "DE")
        & (endpoints["Metrics.visits"] > 5)
    )
    assert got.index.equals(endpoints.index)
    assert got.dtype == bool
    assert (got == want.fillna(False).astype(bool)).all()
    assert got.sum() > 0


def test_attribute_types_over_list_values() -> None:
    df = _frame(**{"Attributes.tags": [["a", "bc"], ["x"], None, [], ["abc"]]})

    def sel(*values: str, type: str = "INCLUSIVE") -> list[bool]:
        return list(evaluate(segment("s").attribute("tags", *values, type=type).build(), df))

    assert sel("a", "x") == [True, True, False, False, False]
    assert sel("a", type="EXCLUSIVE") == [False, True, True, True, True]
    assert sel("bc", type="CONTAINS") == [True, False, False, False, True]


def test_date_attributes_before_after_on_between() -> None:
    df = _frame(
        **{
            "Attributes.renewal": [
                ["2026-01-10"],
                ["2026-03-01T23:30:00+02:00"],
                ["not a date"],
                ["2025-12-31", "2026-06-01T00:00:00Z"],
                None,
            ]
        }
    )

    def sel(type: str, *values: str) -> list[bool]:
        return list(evaluate(segment("s").attribute("renewal", *values, type=type).build(), df))

    assert sel("BEFORE", "2026-02-01") == [True, False, False, True, False]
    assert sel("AFTER", "2026-02-01T00:00:00Z") == [False, True, False, True, False]
    # 2026-03-01T23:30+02:00 is 21:30 UTC on March 1st
    assert sel("ON", "2026-03-01") == [False, True, False, False, False]
    assert sel("BETWEEN", "2026-01-01", "2026-03-31") == [True, True, False, False, False]
    assert sel("NOT_BETWEEN", "2026-01-01", "2026-03-31") == [False, False, True, True, True]


def test_gps_radius_uses_great_circle_distance() -> None:
    # Berlin, Potsdam (~27 km), Munich (~504 km), unknown location
    df = _frame(
        **{
            "Location.Latitude": [52.52, 52.3906, 48.1351, None],
            "Location.Longitude": [13.405, 13.0645, 11.582, None],
        }
    )
    near = lambda km: list(evaluate(segment("s").near(52.52, 13.405, km=km).build(), df))  # noqa: E731
    assert near(30) == [True, True, False, False]
    assert near(20) == [True, False, False, False]
    assert near(510) == [True, True, True, False]


def test_recency_uses_last_session_when_events_are_given() -> None:
    df = _frame(
        EffectiveDate=["2026-10-30T00:00:00Z", "2026-09-01T00:00:00Z", None],
    )
    seg = segment("s").active("DAY_7").build()
    assert list(evaluate(seg, df, now=NOW)) == [True, False, False]
    events = pd.DataFrame(
        {
            "endpoint_id": ["e0", "e1", "e1", "e2"],
            "event_type": ["_session.start", "_session.start", "_email.open", "_session.start"],
            "event_timestamp": pd.to_datetime(
                ["2026-08-01", "2026-10-29", "2026-10-31", "2026-10-31"], utc=True
            ),
        }
    )
    assert list(evaluate(seg, df, now=NOW, events=events)) == [False, True, True]
    inactive = segment("s").inactive("DAY_7").build()
    assert list(evaluate(inactive, df, now=NOW)) == [False, True, True]


def test_estimate_counts_channels_messageable_and_reasons(endpoints: pd.DataFrame) -> None:
    seg = segment("de").country("DE").build()
    est = estimate(seg, endpoints)
    mask = evaluate(seg, endpoints)
    sub = endpoints[mask]
    assert est.total == len(sub)
    assert sum(est.by_channel.values()) == est.total
    ok = (sub["OptOut"] == "NONE") & (sub["EndpointStatus"] == "ACTIVE")
    assert est.messageable == int(ok.sum())
    assert est.messageable + sum(est.excluded.values()) == est.total
    assert est.excluded["OPTED_OUT"] == int((sub["OptOut"] == "ALL").sum())
    assert "messageable" in est.summary()
    assert len(members(seg, endpoints, messageable_only=True)) == est.messageable


def test_segment_groups_and_or_nor() -> None:
    df = _frame(
        ChannelType=["EMAIL", "SMS", "EMAIL", "GCM"],
        **{"Location.Country": ["DE", "DE", "FR", None]},
    )
    email_or_de = segment("s").channel("EMAIL").country("DE").match("ANY").build()
    assert list(evaluate(email_or_de, df)) == [True, True, True, False]
    neither = segment("s").channel("EMAIL").country("DE").match("NONE").build()
    assert list(evaluate(neither, df)) == [False, False, False, True]
    groups = segment("s").channel("SMS").new_group().country("FR").combine("ANY").build()
    assert list(evaluate(groups, df)) == [False, True, True, False]


def test_bad_definitions_name_the_path_and_expectation() -> None:
    with pytest.raises(
        DefinitionError, match=r"Dimensions\.Attributes\.a\.AttributeType.*INCLUSIVE"
    ):
        Segment.model_validate(
            {
                "Name": "x",
                "Dimensions": {"Attributes": {"a": {"AttributeType": "LIKE", "Values": ["1"]}}},
            }
        )
    with pytest.raises(DefinitionError, match=r"Attributes\.a\.Values.*exactly two"):
        segment("x").attribute("a", "2026-01-01", type="BETWEEN").build()
    with pytest.raises(DefinitionError, match=r"Values\.0.*ISO 8601 date.*'soon'"):
        segment("x").before("renewal", "soon").build()
    with pytest.raises(DefinitionError, match=r"Dimensions\.Shoe.*unknown field.*Attributes"):
        Segment.model_validate({"Name": "x", "Dimensions": {"Shoe": {}}})
    with pytest.raises(DefinitionError, match=r"Metrics\.visits\.Values.*BETWEEN"):
        Segment.model_validate(
            {
                "Name": "x",
                "Dimensions": {
                    "Metrics": {"visits": {"ComparisonOperator": "BETWEEN", "Value": 1}}
                },
            }
        )


def test_saved_segments_version_copy_delete_and_pin(project: Project) -> None:
    v1 = save_segment(project, segment("vip").metric("lifetime_value", ">=", 100).build())
    v2 = save_segment(project, segment("vip").metric("lifetime_value", ">=", 200).build())
    assert (v1, v2) == (1, 2)
    assert load_segment(project, "vip").dimensions.metrics["lifetime_value"].value == 200
    assert load_segment(project, "vip", 1).dimensions.metrics["lifetime_value"].value == 100
    assert copy_segment(project, "vip", "vip-copy") == 1
    assert load_segment(project, "vip-copy").name == "vip-copy"
    delete_segment(project, "vip")
    assert list(list_segments(project)["name"]) == ["vip-copy"]
    assert load_segment(project, "vip", 2).name == "vip"  # pinned stays readable


def test_base_segments_resolve_and_deleted_unpinned_is_an_error(
    project: Project, endpoints: pd.DataFrame
) -> None:
    save_segment(project, segment("test-users").country("DE").build())
    seg = segment("not-de-email").channel("EMAIL").exclude("test-users").build()
    save_segment(project, seg)
    got = evaluate(seg, endpoints, project=project)
    want = (endpoints["ChannelType"] == "EMAIL") & (endpoints["Location.Country"] != "DE")
    assert np.array_equal(got.to_numpy(), want.fillna(False).to_numpy(dtype=bool))
    delete_segment(project, "test-users")
    with pytest.raises(
        DefinitionError, match=r"SourceSegments\.0\.Id.*deleted base segment 'test-users'"
    ):
        evaluate(seg, endpoints, project=project)
    pinned = segment("p").exclude(("test-users", 1)).build()
    assert evaluate(pinned, endpoints, project=project).sum() > 0


def test_unknown_base_segment_and_cycles_are_rejected(project: Project) -> None:
    with pytest.raises(DefinitionError, match=r"unknown base segment 'nope'"):
        save_segment(project, segment("a").based_on("nope").build())
    save_segment(project, segment("a").country("DE").build())
    save_segment(project, segment("b").based_on("a").build())
    with pytest.raises(DefinitionError, match=r"cycle: a -> b -> a"):
        save_segment(project, segment("a").based_on("b").build())
    with pytest.raises(DefinitionError, match=r"cycle"):
        save_segment(project, segment("c").based_on("c").build())


def test_missing_columns_and_values_follow_pinpoint_semantics() -> None:
    df = _frame(ChannelType=["EMAIL", None, "SMS"])
    before = df.copy()
    # a criterion on a column the frame lacks matches nobody; EXCLUSIVE keeps missing values
    assert not evaluate(segment("s").metric("absent", ">", 0).build(), df).any()
    assert not evaluate(segment("s").attribute("absent", "x").build(), df).any()
    assert evaluate(segment("s").attribute_not("absent", "x").build(), df).all()
    assert list(evaluate(segment("s").channel("EMAIL", exclude=True).build(), df)) == [
        False,
        True,
        True,
    ]
    pd.testing.assert_frame_equal(df, before)


def test_dimensions_and_segment_groups_must_both_hold() -> None:
    df = _frame(
        ChannelType=["EMAIL", "EMAIL", "SMS"],
        **{"Location.Country": ["DE", "FR", "DE"]},
    )
    seg = Segment.model_validate(
        {
            "Name": "s",
            "Dimensions": {"Demographic": {"Channel": {"Values": ["EMAIL"]}}},
            "SegmentGroups": {
                "Include": "NONE",
                "Groups": [{"Dimensions": [{"Location": {"Country": {"Values": ["FR"]}}}]}],
            },
        }
    )
    assert list(evaluate(seg, df)) == [True, False, False]


def test_costly_criteria_only_see_surviving_rows_without_changing_the_answer() -> None:
    df = generate_endpoints(3_000, seed=8)
    cheap_or_costly = (
        segment("s")
        .near(52.52, 13.405, km=50)
        .contains("interests", "yoga")
        .channel("SMS")
        .match("ANY")
        .build()
    )
    got = evaluate(cheap_or_costly, df)
    lists = df["Attributes.interests"].tolist()
    yoga = pd.Series([v is not None and any("yoga" in x for x in v) for v in lists], index=df.index)
    from engagekit.segments._evaluate import haversine_km

    near = pd.Series(
        haversine_km(
            df["Location.Latitude"].to_numpy(), df["Location.Longitude"].to_numpy(), 52.52, 13.405
        )
        <= 50,
        index=df.index,
    )
    want = near | yoga | (df["ChannelType"] == "SMS").fillna(False)
    assert got.equals(want.astype(bool).rename("s"))


def test_pinned_versions_and_copies(project: Project) -> None:
    from engagekit.segments import segment_versions

    save_segment(project, segment("a").country("DE").build())
    save_segment(project, segment("a").country("FR").build())
    assert [v["version"] for v in segment_versions(project, "a")] == [1, 2]
    pinned = segment("b").based_on(("a", 1)).build()
    save_segment(project, pinned)
    df = _frame(**{"Location.Country": ["DE", "FR"]})
    assert list(evaluate(pinned, df, project=project)) == [True, False]
    assert list(evaluate(segment("c").based_on("a").build(), df, project=project)) == [False, True]
    copy_segment(project, "a", "a2")
    with pytest.raises(DefinitionError, match="already exists"):
        copy_segment(project, "a", "a2")


def test_evaluate_accepts_a_builder_a_dict_or_a_saved_name(project: Project) -> None:
    df = _frame(**{"Location.Country": ["DE", "FR"]})
    save_segment(project, segment("de").country("DE").build())
    as_builder = evaluate(segment("de").country("DE"), df)
    as_dict = evaluate(
        {"Name": "de", "Dimensions": {"Location": {"Country": {"Values": ["DE"]}}}}, df
    )
    as_name = evaluate("de", df, project=project)
    assert list(as_builder) == list(as_dict) == list(as_name) == [True, False]
    with pytest.raises(DefinitionError, match="pass project="):
        evaluate("de", df)


def test_any_index_and_plain_python_lists_work() -> None:
    df = pd.DataFrame(
        {
            "Id": ["a", "b", "c"],
            "Attributes.tags": [["x", "y"], None, ["y"]],  # object dtype, not normalized
            "Metrics.visits": [1.0, 5.0, None],
        },
        index=[30, 10, 20],
    )
    got = evaluate(segment("s").attribute("tags", "y").metric("visits", "<", 3).build(), df)
    assert list(got.index) == [30, 10, 20]
    assert list(got) == [True, False, False]


@pytest.mark.parametrize(
    ("lat0", "lon0", "km"),
    [(52.52, 13.405, 900), (0, 179.9, 300), (-89.5, 0, 200), (70, -170, 1500), (10, 0, 25_000)],
)
def test_gps_prefilter_never_drops_a_point_in_range(lat0: float, lon0: float, km: float) -> None:
    from engagekit.segments._evaluate import haversine_km

    rng = np.random.default_rng(int(abs(lat0 * 100 + lon0)))
    lat = np.concatenate(
        [rng.uniform(-90, 90, 20_000), lat0 + rng.normal(0, 5, 20_000).clip(-5, 5)]
    )
    lon = np.concatenate(
        [rng.uniform(-180, 180, 20_000), (lon0 + rng.normal(0, 20, 20_000) + 180) % 360 - 180]
    )
    lat = lat.clip(-90, 90)
    df = _frame(**{"Location.Latitude": list(lat), "Location.Longitude": list(lon)})
    got = evaluate(segment("s").near(lat0, lon0, km=km).build(), df).to_numpy()
    dist = haversine_km(lat, lon, lat0, lon0)
    clear = np.abs(dist - km) > 1e-6  # leave out points within a micrometre of the edge
    assert np.array_equal(got[clear], (dist <= km)[clear])
    assert got.any()


def test_a_pinned_older_version_of_itself_is_not_a_cycle(project: Project) -> None:
    save_segment(project, segment("a").country("DE").build())
    widened = segment("a").based_on(("a", 1)).new_group().country("FR").combine("ANY").build()
    assert save_segment(project, widened) == 2
    df = _frame(**{"Location.Country": ["DE", "FR", "US"]})
    assert list(evaluate("a", df, project=project)) == [True, True, False]


def test_empty_frames_and_events_without_the_needed_columns() -> None:
    empty = _frame(ChannelType=[])
    assert evaluate(segment("s").channel("EMAIL").active("DAY_7").build(), empty).empty
    assert estimate(segment("s").channel("EMAIL").build(), empty).total == 0
    df = _frame(EffectiveDate=["2026-10-30T00:00:00Z"])
    with pytest.raises(DefinitionError, match="event_type and event_timestamp; missing event_type"):
        evaluate(
            segment("s").active("DAY_7").build(),
            df,
            events=pd.DataFrame({"endpoint_id": ["e0"], "event_timestamp": [NOW]}),
        )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"SegmentGroups": {"Groups": [{"Dimensions": [{}, {"Demographic": {"Shoe": {}}}]}]}},
            r"SegmentGroups\.Groups\.0\.Dimensions\.1\.Demographic\.Shoe.*AppVersion, Channel",
        ),
        (
            {"SegmentGroups": {"Groups": [{"Type": "XOR"}]}},
            r"SegmentGroups\.Groups\.0\.Type.*'ALL', 'ANY' or 'NONE'.*'XOR'",
        ),
        (
            {"Dimensions": {"Attributes": {"plan": {"Values": []}}}},
            r"Attributes\.plan\.Values.*at least one value",
        ),
        (
            {
                "Dimensions": {
                    "Attributes": {
                        "d": {"AttributeType": "BETWEEN", "Values": ["2026-02-01", "2026-01-01"]}
                    }
                }
            },
            r"earlier date first",
        ),
        (
            {
                "Dimensions": {
                    "Behavior": {"Recency": {"Duration": "DAY_3", "RecencyType": "ACTIVE"}}
                }
            },
            r"Behavior\.Recency\.Duration.*'HR_24', 'DAY_7', 'DAY_14' or 'DAY_30'",
        ),
        (
            {
                "Dimensions": {
                    "Location": {"GPSPoint": {"Coordinates": {"Latitude": 95, "Longitude": 0}}}
                }
            },
            r"GPSPoint\.Coordinates\.Latitude",
        ),
    ],
)
def test_definition_errors_locate_the_field(doc: dict, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        Segment.model_validate({"Name": "x", **doc})


def test_funnel_shows_how_each_criterion_narrows_the_audience(project: Project) -> None:
    from engagekit.segments import funnel

    save_segment(project, segment("test-users").country("FR").build())
    df = generate_endpoints(2_000, seed=13)
    seg = (
        segment("s")
        .channel("EMAIL")
        .metric_between("visits", 2, 9)
        .contains("interests", "run")
        .exclude("test-users")
        .build()
    )
    table = funnel(seg, df, project=project)
    assert list(table["criterion"]) == [
        "ChannelType in {EMAIL}",
        "2 <= Metrics.visits <= 9",
        "Attributes.interests contains any of {run}",
        "not in segment test-users",
    ]
    assert table["remaining"].is_monotonic_decreasing
    assert table["remaining"].iloc[-1] == evaluate(seg, df, project=project).sum()
    assert table["matches"].iloc[0] == (df["ChannelType"] == "EMAIL").sum()
