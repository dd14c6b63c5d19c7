"""The SQL twin: DuckDB over the endpoint Parquet selects exactly the ids pandas selects."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagekit.endpoints import normalize_endpoints
from engagekit.errors import DefinitionError
from engagekit.project import Project
from engagekit.sample import generate_endpoints
from engagekit.segments import Segment, evaluate, save_segment, segment, to_sql

NOW = "2026-11-01T00:00:00Z"
CHANNELS = ["EMAIL", "SMS", "GCM", "APNS"]
COUNTRIES = ["DE", "FR", "US"]
PLATFORMS = ["iOS", "Android", "Web"]
TAGS = ["a", "ab", "b", "run", "running", "O'Neil", ""]
DATES = [
    "2026-01-01",
    "2026-01-31T23:59:59Z",
    "2026-02-01T00:30:00+02:00",
    "2026-03-15 12:00",
    "2026-06-30T10:00:00.5",
    "2026-02-30",
    "soon",
    "2026",
]
RANGE_DATES = ["2026-01-01", "2026-01-31T23:59:59Z", "2026-02-01", "2026-06-30T00:00:00Z"]


def _maybe(strategy: st.SearchStrategy, p_none: float = 0.2) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy) if p_none else strategy


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    col = lambda s: draw(st.lists(s, min_size=n, max_size=n))  # noqa: E731
    lists = lambda pool: st.one_of(  # noqa: E731
        st.none(), st.lists(st.one_of(st.sampled_from(pool), st.none()), max_size=3)
    )
    df = pd.DataFrame(
        {
            "Id": [f"ep-{i}" for i in range(n)],
            "ChannelType": col(_maybe(st.sampled_from(CHANNELS))),
            "EndpointStatus": col(st.sampled_from(["ACTIVE", "INACTIVE"])),
            "OptOut": col(st.sampled_from(["NONE", "ALL"])),
            "EffectiveDate": col(
                _maybe(st.integers(0, 60).map(lambda d: pd.Timestamp(NOW) - pd.Timedelta(days=d)))
            ),
            "Location.Country": col(_maybe(st.sampled_from(COUNTRIES))),
            "Location.Latitude": col(_maybe(st.floats(45, 55, allow_nan=False))),
            "Location.Longitude": col(_maybe(st.floats(5, 20, allow_nan=False))),
            "Demographic.Platform": col(_maybe(st.sampled_from(PLATFORMS))),
            "Metrics.visits": col(_maybe(st.integers(0, 10).map(float))),
            "Attributes.tags": col(lists(TAGS)),
            "Attributes.renewal": col(lists(DATES)),
            "User.UserAttributes.plan": col(lists(["free", "pro"])),
        }
    )
    return normalize_endpoints(df)


def _set(pool: list[str]) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {
            "DimensionType": st.sampled_from(["INCLUSIVE", "EXCLUSIVE"]),
            "Values": st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True),
        }
    )


_tag_attribute = st.fixed_dictionaries(
    {
        "AttributeType": st.sampled_from(["INCLUSIVE", "EXCLUSIVE", "CONTAINS"]),
        "Values": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
    }
)
_date_attribute = st.one_of(
    st.fixed_dictionaries(
        {
            "AttributeType": st.sampled_from(["BEFORE", "AFTER", "ON"]),
            "Values": st.lists(st.sampled_from(RANGE_DATES), min_size=1, max_size=1),
        }
    ),
    st.fixed_dictionaries(
        {
            "AttributeType": st.sampled_from(["BETWEEN", "NOT_BETWEEN"]),
            "Values": st.lists(st.sampled_from(RANGE_DATES), min_size=2, max_size=2).map(sorted),
        }
    ),
)
_metric = st.one_of(
    st.fixed_dictionaries(
        {
            "ComparisonOperator": st.sampled_from(
                [
                    "GREATER_THAN",
                    "LESS_THAN",
                    "GREATER_THAN_OR_EQUAL",
                    "LESS_THAN_OR_EQUAL",
                    "EQUAL",
                ]
            ),
            "Value": st.integers(0, 10).map(float),
        }
    ),
    st.tuples(st.integers(0, 10), st.integers(0, 10)).map(
        lambda t: {"ComparisonOperator": "BETWEEN", "Values": sorted(map(float, t))}
    ),
)
_FAMILIES = {
    "Demographic": st.fixed_dictionaries(
        {}, optional={"Channel": _set(CHANNELS), "Platform": _set(PLATFORMS)}
    ).filter(bool),
    "Location": st.fixed_dictionaries(
        {},
        optional={
            "Country": _set(COUNTRIES),
            "GPSPoint": st.fixed_dictionaries(
                {
                    "Coordinates": st.fixed_dictionaries(
                        {
                            "Latitude": st.floats(45, 55, allow_nan=False),
                            "Longitude": st.floats(5, 20, allow_nan=False),
                        }
                    ),
                    "RangeInKilometers": st.floats(0, 800, allow_nan=False),
                }
            ),
        },
    ).filter(bool),
    "Behavior": st.fixed_dictionaries(
        {
            "Recency": st.fixed_dictionaries(
                {
                    "Duration": st.sampled_from(["HR_24", "DAY_7", "DAY_14", "DAY_30"]),
                    "RecencyType": st.sampled_from(["ACTIVE", "INACTIVE"]),
                }
            )
        }
    ),
    "Metrics": st.one_of(
        st.fixed_dictionaries({"visits": _metric}),
        st.fixed_dictionaries({"absent": _metric}),
    ),
    "Attributes": st.one_of(
        st.fixed_dictionaries(
            {}, optional={"tags": _tag_attribute, "renewal": _date_attribute}
        ).filter(bool),
        st.fixed_dictionaries({"absent": _tag_attribute}),
    ),
    "UserAttributes": st.fixed_dictionaries(
        {
            "plan": st.fixed_dictionaries(
                {
                    "AttributeType": st.sampled_from(["INCLUSIVE", "EXCLUSIVE"]),
                    "Values": st.lists(st.sampled_from(["free", "pro"]), min_size=1, max_size=2),
                }
            )
        }
    ),
}
# one or two criteria families per dimension set, so selections are neither always all nor none
_dimensions = st.lists(
    st.sampled_from(sorted(_FAMILIES)), min_size=1, max_size=2, unique=True
).flatmap(lambda keys: st.fixed_dictionaries({k: _FAMILIES[k] for k in keys}))

_kinds = st.sampled_from(["ALL", "ANY", "NONE"])
segments = st.fixed_dictionaries(
    {"Name": st.just("random")},
    optional={
        "Dimensions": _dimensions,
        "SegmentGroups": st.fixed_dictionaries(
            {
                "Include": _kinds,
                "Groups": st.lists(
                    st.fixed_dictionaries(
                        {"Type": _kinds, "Dimensions": st.lists(_dimensions, max_size=2)},
                        optional={
                            "SourceSegments": st.lists(
                                st.sampled_from(
                                    [
                                        {"Id": "base-de"},
                                        {"Id": "base-email"},
                                        {"Id": "base-de", "Version": 1},
                                    ]
                                ),
                                min_size=1,
                                max_size=2,
                            ),
                            "SourceType": _kinds,
                        },
                    ),
                    max_size=2,
                ),
            }
        ),
    },
)


def _valid(doc: dict) -> Segment | None:
    try:
        return Segment.model_validate(doc)
    except DefinitionError:
        return None  # e.g. CONTAINS/INCLUSIVE on dates drawn for the date attribute


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A project with the base segments the random segments may start from or exclude."""
    project = Project.create(tmp_path_factory.mktemp("bases") / "p", name="bases")
    save_segment(project, segment("base-de").country("DE").build())
    save_segment(project, segment("base-de").country("DE", "FR").build())  # version 2
    save_segment(project, segment("base-email").channel("EMAIL").contains("tags", "a").build())
    return project


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=segments, df=frames())
def test_pandas_and_duckdb_select_the_same_ids(
    tmp_path_factory: pytest.TempPathFactory, bases: Project, doc: dict, df: pd.DataFrame
) -> None:
    seg = _valid(doc)
    if seg is None:
        return
    path = tmp_path_factory.getbasetemp() / "prop.parquet"
    df.to_parquet(path)
    got = set(df.loc[evaluate(seg, df, now=NOW, project=bases).to_numpy(), "Id"])
    sql = to_sql(
        seg,
        f"read_parquet('{path}')",
        select='e."Id"',
        now=NOW,
        columns=list(df.columns),
        project=bases,
    )
    want = {row[0] for row in duckdb.sql(sql).fetchall()}
    assert got == want, sql


def test_sql_twin_agrees_on_generated_data_with_sessions(tmp_path: Path) -> None:
    df = generate_endpoints(3_000, seed=5)
    events = pd.DataFrame(
        {
            "endpoint_id": df["Id"].iloc[::7].to_numpy(),
            "event_type": "_session.start",
            "event_timestamp": pd.Timestamp(NOW) - pd.to_timedelta(range(0, 3_000, 7), unit="h"),
        }
    )
    seg = (
        segment("s")
        .channel("EMAIL", "SMS")
        .contains("interests", "run")
        .metric_between("lifetime_value", 20, 200)
        .near(52.52, 13.405, km=600)
        .active("DAY_7")
        .build()
    )
    path = tmp_path / "endpoints.parquet"
    df.to_parquet(path)
    con = duckdb.connect()
    con.register("events", events)
    sql = to_sql(seg, f"read_parquet('{path}')", select='e."Id"', now=NOW, events="events")
    want = {r[0] for r in con.execute(sql).fetchall()}
    got = set(df.loc[evaluate(seg, df, now=NOW, events=events).to_numpy(), "Id"])
    assert got == want and len(got) > 10


def test_sql_inlines_saved_base_segments(project: Project, tmp_path: Path) -> None:
    df = generate_endpoints(1_000, seed=2)
    save_segment(project, segment("germany").country("DE").build())
    seg = segment("s").channel("EMAIL").exclude("germany").build()
    path = tmp_path / "e.parquet"
    df.to_parquet(path)
    sql = to_sql(seg, f"read_parquet('{path}')", select='e."Id"', project=project)
    assert "'DE'" in sql
    want = {r[0] for r in duckdb.sql(sql).fetchall()}
    assert want == set(df.loc[evaluate(seg, df, project=project).to_numpy(), "Id"])


def test_sql_without_project_for_base_segments_names_the_fix() -> None:
    with pytest.raises(DefinitionError, match=r"SourceSegments\.0\.Id.*pass project="):
        to_sql(segment("s").exclude("germany").build())


@pytest.mark.parametrize(
    ("lat0", "lon0", "km"),
    [(0, 179.9, 300), (-89.5, 0, 200), (70, -170, 1500), (52.52, 13.405, 900), (10, 0, 25_000)],
)
def test_gps_boxes_agree_across_the_antimeridian_and_poles(
    tmp_path: Path, lat0: float, lon0: float, km: float
) -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    n = 4_000
    lat = np.concatenate([rng.uniform(-90, 90, n), (lat0 + rng.normal(0, 4, n)).clip(-90, 90)])
    lon = np.concatenate(
        [rng.uniform(-180, 180, n), (lon0 + rng.normal(0, 15, n) + 180) % 360 - 180]
    )
    df = normalize_endpoints(
        pd.DataFrame(
            {
                "Id": [f"e{i}" for i in range(2 * n)],
                "Location.Latitude": lat,
                "Location.Longitude": lon,
            }
        )
    )
    seg = segment("s").near(lat0, lon0, km=km).build()
    path = tmp_path / "gps.parquet"
    df.to_parquet(path)
    want = {
        r[0] for r in duckdb.sql(to_sql(seg, f"read_parquet('{path}')", select='e."Id"')).fetchall()
    }
    got = set(df.loc[evaluate(seg, df).to_numpy(), "Id"])
    assert got == want and got
