from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from zoneinfo import available_timezones

import pandas as pd
import phonenumbers
import pytest
from email_validator import validate_email

from engagekit import Project
from engagekit.endpoints import (
    CORE_COLUMNS,
    LIST_DTYPE,
    import_endpoints,
    normalize_endpoints,
    read_endpoints,
    read_rejects,
)
from engagekit.sample import generate_endpoints, write_sample

DATA = Path(__file__).resolve().parents[1] / "data"


def _make_sample_module():
    spec = importlib.util.spec_from_file_location("make_sample", DATA / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_sample"] = module
    spec.loader.exec_module(module)
    return module


def test_same_seed_gives_the_same_endpoints_and_another_seed_does_not() -> None:
    a = generate_endpoints(2_000, seed=9, as_of="2026-11-01")
    b = generate_endpoints(2_000, seed=9, as_of="2026-11-01")
    pd.testing.assert_frame_equal(a, b)
    c = generate_endpoints(2_000, seed=10, as_of="2026-11-01")
    assert not a["Address"].equals(c["Address"])


def test_generated_frame_is_normalized_with_every_core_column() -> None:
    df = generate_endpoints(500, seed=1)
    assert len(df) == 500
    assert set(CORE_COLUMNS) <= set(df.columns)
    pd.testing.assert_frame_equal(normalize_endpoints(df), df)
    assert df["Attributes.interests"].dtype == LIST_DTYPE
    assert df["Id"].is_unique


def test_generated_data_looks_like_a_real_audience() -> None:
    df = generate_endpoints(20_000, seed=3)
    channels = set(df["ChannelType"].astype(str))
    assert {"EMAIL", "SMS", "APNS", "GCM"} <= channels
    assert df["Location.Country"].nunique() >= 10
    assert set(df["Demographic.Timezone"].astype(str)) <= available_timezones()
    assert 0.01 < (df["OptOut"] == "ALL").mean() < 0.06
    assert 0.005 < (df["EndpointStatus"] == "INACTIVE").mean() < 0.05
    emails = df.loc[df["ChannelType"] == "EMAIL", "Address"]
    assert emails.duplicated().sum() > 20  # shared addresses, as real imports have
    per_user = df.groupby("User.UserId").size()
    assert per_user.max() <= 10 and per_user.min() >= 1
    assert df["User.UserId"].nunique() == pytest.approx(20_000 / 1.6, rel=0.01)
    assert df["Attributes.interests"].map(len).max() >= 2


def test_generated_addresses_pass_the_real_validators() -> None:
    df = generate_endpoints(5_000, seed=4)
    for number in df.loc[df["ChannelType"] == "SMS", "Address"]:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
    for email in df.loc[df["ChannelType"] == "EMAIL", "Address"].head(300):
        assert validate_email(email, check_deliverability=False).normalized == email


def test_start_offsets_ids_so_chunks_never_collide() -> None:
    first = generate_endpoints(1_000, seed=1, start=0)
    second = generate_endpoints(1_000, seed=2, start=1_000)
    assert not set(first["Id"]) & set(second["Id"])
    assert not set(first["User.UserId"]) & set(second["User.UserId"])
    assert second["Id"].iloc[0] == "ep-00001000"


@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
def test_write_sample_in_chunks_is_reproducible_and_importable(tmp_path: Path, suffix: str) -> None:
    a = write_sample(tmp_path / f"a.{suffix}", 2_500, seed=5, chunk_rows=1_000)
    b = write_sample(tmp_path / f"b.{suffix}", 2_500, seed=5, chunk_rows=1_000)
    assert a.read_bytes() == b.read_bytes()
    project = Project.create(tmp_path / "p")
    report = import_endpoints(project, a, progress=False)
    assert (report.read, report.rejected) == (2_500, 0)
    assert read_endpoints(project)["Id"].is_unique


def test_committed_sample_is_what_the_script_makes(tmp_path: Path) -> None:
    make = _make_sample_module()
    fresh = write_sample(tmp_path / "sample.csv", make.ROWS, seed=make.SEED)
    assert fresh.read_bytes() == (DATA / "sample_endpoints.csv").read_bytes()
    make.write_bad(tmp_path / "bad.csv")
    assert (tmp_path / "bad.csv").read_bytes() == (DATA / "bad_endpoints.csv").read_bytes()


def test_committed_sample_imports_cleanly(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p")
    report = import_endpoints(project, DATA / "sample_endpoints.csv", progress=False)
    assert (report.read, report.imported, report.rejected) == (3_000, 3_000, 0)
    assert report.deactivated > 0


def test_bad_rows_file_covers_every_rule_in_the_readme(tmp_path: Path) -> None:
    make = _make_sample_module()
    project = Project.create(tmp_path / "p")
    report = import_endpoints(
        project, DATA / "bad_endpoints.csv", rejects=tmp_path / "rejects.csv", progress=False
    )
    rejects = read_rejects(report.rejects_path).set_index("line")
    expected = {
        line: (field, reason) for line, (_, field, _, reason) in enumerate(make.BAD_ROWS, start=4)
    }
    first_after = 4 + len(make.BAD_ROWS)
    expected[first_after] = ("(record)", "expected 16 fields")
    expected[first_after + 11] = ("User.UserId", "already has 10 endpoints")
    assert set(rejects.index) == set(expected)
    for line, (field, reason) in expected.items():
        assert rejects.loc[line, "field"] == field, line
        assert reason in rejects.loc[line, "reason"], (line, rejects.loc[line, "reason"])
    assert (report.read, report.imported, report.deactivated) == (43, 14, 1)
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for endpoint_id, *_ in make.BAD_ROWS:
        assert f"`{endpoint_id}`" in readme or not endpoint_id
    assert "read 43 rows: 14 imported, 1 deactivated, 29 rejected" in readme
    statuses = read_endpoints(project).set_index("Id")["EndpointStatus"]
    assert (statuses["dup-old"], statuses["dup-new"]) == ("INACTIVE", "ACTIVE")
    assert json.loads(rejects.loc[first_after + 11].to_json())["field"] == "User.UserId"
