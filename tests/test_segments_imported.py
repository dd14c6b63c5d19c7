"""Imported (static) segments from endpoint files, local or S3; export of members."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pandas as pd
import pytest

from engagekit.errors import DefinitionError, ImportFileError
from engagekit.project import Project
from engagekit.sample import generate_endpoints
from engagekit.segments import (
    evaluate,
    export_members,
    import_segment,
    list_segments,
    load_segment,
    reimport_segment,
    save_segment,
    segment,
)


@pytest.fixture(scope="module")
def endpoints() -> pd.DataFrame:
    return generate_endpoints(400, seed=9)


def test_imported_segment_is_the_listed_endpoints_refined_by_dimensions(
    tmp_path: Path, endpoints: pd.DataFrame
) -> None:
    listed = endpoints["Id"].iloc[:100]
    csv = tmp_path / "webinar.csv"
    pd.DataFrame({"Id": listed, "ChannelType": endpoints["ChannelType"].iloc[:100]}).to_csv(
        csv, index=False
    )
    seg = import_segment("webinar", csv)
    assert seg.import_definition is not None and seg.import_definition.size == 100
    assert set(endpoints.loc[evaluate(seg, endpoints).to_numpy(), "Id"]) == set(listed)

    emails = import_segment("webinar", csv, refine=segment("x").channel("EMAIL"))
    got = endpoints.loc[evaluate(emails, endpoints).to_numpy()]
    assert set(got["Id"]) == set(listed[endpoints["ChannelType"].iloc[:100] == "EMAIL"])
    assert len(got) > 0


def test_ndjson_rows_without_id_match_by_channel_and_address(tmp_path: Path) -> None:
    from engagekit.endpoints import generated_ids

    path = tmp_path / "list.ndjson"
    rows = [
        {"Id": "ep-1", "ChannelType": "EMAIL", "Address": "a@example.com"},
        {"ChannelType": "SMS", "Address": "+4930123456"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    seg = import_segment("list", path)
    import pyarrow as pa

    derived = generated_ids(pa.array(["SMS"]), pa.array(["+4930123456"]))[0].as_py()
    assert seg.import_definition.endpoint_ids == ("ep-1", derived)
    assert seg.import_definition.format == "JSON"


def test_import_and_reimport_from_s3(aws_reset: str, project: Project, endpoints) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="lists")
    s3.put_object(Bucket="lists", Key="vip.csv", Body=b"Id\nep-00000001\nep-00000002\n")
    seg = import_segment("vip", "s3://lists/vip.csv")
    assert save_segment(project, seg) == 1
    assert evaluate(load_segment(project, "vip"), endpoints).sum() == 2
    assert list_segments(project).set_index("name").loc["vip", "type"] == "imported"

    s3.put_object(Bucket="lists", Key="vip.csv", Body=b"Id\nep-00000003\n")
    assert reimport_segment(project, "vip") == 2
    now = load_segment(project, "vip")
    assert now.import_definition.endpoint_ids == ("ep-00000003",)
    assert load_segment(project, "vip", 1).import_definition.size == 2


def test_reimporting_a_dynamic_segment_names_the_problem(project: Project) -> None:
    save_segment(project, segment("dyn").country("DE").build())
    with pytest.raises(DefinitionError, match="dynamic, not imported"):
        reimport_segment(project, "dyn")


def test_unreadable_member_files_raise_import_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        import_segment("x", tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFileError, match="empty"):
        import_segment("x", empty)
    no_ids = tmp_path / "names.csv"
    no_ids.write_text("Name\nAda\n")
    with pytest.raises(ImportFileError, match="need an Id"):
        import_segment("x", no_ids)


def test_export_members_to_csv_and_ndjson(tmp_path: Path, endpoints: pd.DataFrame) -> None:
    seg = segment("de").country("DE").build()
    n = int(evaluate(seg, endpoints).sum())
    assert export_members(seg, endpoints, tmp_path / "de.csv") == n
    assert len(pd.read_csv(tmp_path / "de.csv")) == n
    assert export_members(seg, endpoints, tmp_path / "de.ndjson") == n
    lines = (tmp_path / "de.ndjson").read_text().splitlines()
    assert len(lines) == n and json.loads(lines[0])["Location"]["Country"] == "DE"
