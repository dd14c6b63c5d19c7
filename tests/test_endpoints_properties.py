"""Property tests: export/import round trips, and malformed input never crashes an import."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engagekit import ImportFileError, Project
from engagekit.endpoints import (
    export_endpoints,
    import_endpoints,
    normalize_endpoints,
    read_endpoints,
)
from engagekit.endpoints._rules import emails
from engagekit.sample import generate_endpoints

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PROJECTS: dict[str, Project] = {}
_ROOT = tempfile.TemporaryDirectory(prefix="ek-props-")


def empty_project(name: str) -> Project:
    """A project with no endpoints, made once per name (creating one per example is slow)."""
    if name not in _PROJECTS:
        _PROJECTS[name] = Project.create(Path(_ROOT.name) / name)
    project = _PROJECTS[name]
    project.store.endpoints_path.unlink(missing_ok=True)
    return project


PHONES = generate_endpoints(400, seed=8).query("ChannelType == 'SMS'")["Address"].tolist()

# text as users type it: any printable character (commas, quotes, newlines, non-ASCII),
# without surrounding whitespace (imports trim it)
_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
text = (
    st.text(st.one_of(_chars, st.sampled_from([",", '"', "\n", "[", "]"])), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
local_part = st.from_regex(r"[A-Za-z0-9_+-]{1,10}(\.[A-Za-z0-9_+-]{1,5})?", fullmatch=True)
timestamps = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@st.composite
def endpoint_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 10))
    ids = draw(st.lists(st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True), min_size=n,
                        max_size=n, unique=True))  # fmt: skip
    rows = []
    for i, endpoint_id in enumerate(ids):
        channel = draw(st.sampled_from(["EMAIL", "SMS", "APNS", "CUSTOM"]))
        if channel == "EMAIL":
            address = f"{draw(local_part)}.{i}@example.org"
        elif channel == "SMS":
            address = PHONES[draw(st.integers(0, len(PHONES) - 1))]
        else:
            address = draw(text) + f"#{i}"
        rows.append(
            {
                "Id": endpoint_id,
                "ChannelType": channel,
                "Address": address,
                "EndpointStatus": draw(st.sampled_from(["ACTIVE", "INACTIVE"])),
                "OptOut": draw(st.sampled_from(["ALL", "NONE"])),
                "EffectiveDate": draw(timestamps),
                "CreationDate": draw(timestamps),
                "Location.City": draw(st.none() | text),
                "Location.Country": draw(st.sampled_from([None, "US", "GB", "DE", "JP"])),
                "Location.Latitude": draw(st.none() | st.floats(-90, 90)),
                "Demographic.Timezone": draw(st.sampled_from([None, "Europe/Berlin", "UTC"])),
                "User.UserId": draw(st.none() | text),
                "Attributes.tags": draw(st.none() | st.lists(text, max_size=3)),
                "Attributes.plan": draw(st.none() | text),
                "User.UserAttributes.Name": draw(
                    st.none() | st.lists(text, min_size=1, max_size=2)
                ),
                "Metrics.score": draw(
                    st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64)
                ),
            }
        )
    frame = pd.DataFrame(rows)
    # active endpoints on one address would be deactivated: keep addresses distinct
    assume(not frame.duplicated(["ChannelType", "Address"]).any())
    return normalize_endpoints(frame)


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values("Id").reset_index(drop=True)
    empty = [c for c in df.columns if df[c].isna().all()]
    return df.drop(columns=empty)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@SETTINGS
@given(frame=endpoint_frames())
def test_export_then_import_gives_back_the_endpoints(fmt: str, frame: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"endpoints.{fmt}"
        export_endpoints(frame, path)
        project = empty_project("p1")
        report = import_endpoints(project, path, progress=False)
        assert (report.read, report.imported, report.rejected) == (len(frame), len(frame), 0)
        back = _comparable(read_endpoints(project))
        expected = _comparable(frame)
        pd.testing.assert_frame_equal(back[expected.columns], expected, check_like=True)
        assert set(back.columns) == set(expected.columns)
        # import -> export -> import: the same endpoints again
        again_path = Path(tmp) / f"again.{fmt}"
        export_endpoints(project, again_path)
        again = empty_project("p2")
        import_endpoints(again, again_path, progress=False, now="2099-01-01")
        pd.testing.assert_frame_equal(read_endpoints(again), read_endpoints(project))


def _import_any(data: bytes, suffix: str) -> None:
    """Import arbitrary bytes: a clear file error, or every row accounted for."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input.{suffix}"
        path.write_bytes(data)
        project = empty_project("any")
        try:
            report = import_endpoints(project, path, progress=False)
        except ImportFileError as exc:
            assert exc.file == str(path)
            assert str(path) in str(exc) and exc.reason
            assert not project.store.endpoints_path.exists()
            return
        assert report.read == report.imported + report.rejected
        assert len(read_endpoints(project)) <= report.imported
        if report.rejected:
            rejects = pd.read_csv(report.rejects_path, keep_default_na=False)
            assert len(rejects) == report.rejected
            assert (rejects["reason"] != "").all()


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=400), suffix=st.sampled_from(["csv", "ndjson"]))
def test_random_bytes_never_crash_an_import(data: bytes, suffix: str) -> None:
    _import_any(data, suffix)


COLUMNS = ["Id", "ChannelType", "Address", "Metrics.n", "Attributes.a", "Location.Country"]


@settings(max_examples=25, deadline=None)
@given(
    header=st.lists(
        st.sampled_from(COLUMNS),
        min_size=1, max_size=6, unique=True,
    ),
    cells=st.lists(st.lists(st.text(max_size=8), max_size=7), max_size=6),
)  # fmt: skip
def test_random_csv_records_are_imported_or_rejected(header: list[str], cells: list) -> None:
    lines = [",".join(header)]
    lines += [",".join(json.dumps(c) if i % 2 else c for i, c in enumerate(row)) for row in cells]
    _import_any("\n".join(lines).encode("utf-8", "surrogatepass"), "csv")


_SAMPLE = generate_endpoints(30, seed=12)


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@settings(max_examples=12, deadline=None)
@given(cut=st.floats(0.05, 0.99), bom=st.booleans())
def test_truncated_files_and_boms_are_handled(fmt: str, cut: float, bom: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / f"full.{fmt}"
        export_endpoints(_SAMPLE, full)
        data = full.read_bytes()
    data = data[: max(1, int(len(data) * cut))]
    _import_any((b"\xef\xbb\xbf" if bom else b"") + data, fmt)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
fields = st.sampled_from(
    ["Id", "ChannelType", "Address", "Location", "Metrics", "Attributes", "User", "OptOut",
     "EffectiveDate", "Demographic"]
)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(records=st.lists(st.dictionaries(fields, json_values, min_size=1, max_size=5), max_size=5))
def test_wrong_types_in_ndjson_are_rejected_not_crashed(records: list[dict]) -> None:
    body = "\n".join(json.dumps(r) for r in records)
    _import_any(body.encode("utf-8", "surrogatepass"), "ndjson")


@settings(max_examples=10, deadline=None)
@given(size=st.integers(300, 400_000), column=st.sampled_from(["Address", "Attributes.a", "Id"]))
def test_huge_fields_are_rejected_with_a_reason(size: int, column: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "huge.csv"
        values = {"Id": "e1", "ChannelType": "CUSTOM", "Address": "a", "Attributes.a": "x"}
        values[column] = "h" * size
        path.write_text(",".join(values) + "\n" + ",".join(values.values()) + "\n")
        project = empty_project("huge")
        report = import_endpoints(project, path, progress=False)
        if column == "Address" and size <= 1024:
            assert report.imported == 1
            return
        assert (report.read, report.rejected) == (1, 1)
        rejects = pd.read_csv(report.rejects_path)
        assert rejects.loc[0, "field"] == column
        assert "longer than" in rejects.loc[0, "reason"]


@settings(max_examples=200, deadline=None)
@given(address=st.emails() | st.text(max_size=30) | local_part.map(lambda s: s + "@Example.COM"))
def test_vectorized_email_check_agrees_with_email_validator(address: str) -> None:
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    clean, bad, _ = emails(pa.array([address], pa.string()))
    assert bool(bad[0]) == (expected is None)
    if expected is not None:
        assert clean[0].as_py() == expected
