"""Endpoint import and export through boto3 against a moto server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pandas as pd
import pytest

from engagekit import ImportFileError, Project
from engagekit.endpoints import (
    export_endpoints,
    import_endpoints,
    read_endpoints,
    write_endpoints,
)
from engagekit.sample import generate_endpoints

BUCKET = "audience"


@pytest.fixture
def s3(aws_reset: str):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def put(client, key: str, text: str) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=text.encode("utf-8"))


def test_import_reads_every_object_under_a_prefix_recursively(s3, project: Project) -> None:
    put(s3, "drop/2026/a.csv", "Id,ChannelType,Address\ne1,EMAIL,a@example.com\n")
    put(s3, "drop/2026/11/b.csv", "Id,ChannelType,Address\ne2,EMAIL,b@example.com\n")
    put(s3, "other/c.csv", "Id,ChannelType,Address\ne3,EMAIL,c@example.com\n")
    report = import_endpoints(project, f"s3://{BUCKET}/drop/", progress=False)
    assert report.files == [f"s3://{BUCKET}/drop/2026/11/b.csv", f"s3://{BUCKET}/drop/2026/a.csv"]
    assert sorted(read_endpoints(project)["Id"]) == ["e1", "e2"]


def test_prefix_with_two_formats_imports_only_the_named_one(s3, project: Project) -> None:
    put(s3, "mixed/a.csv", "Id,ChannelType,Address\ne1,EMAIL,a@example.com\n")
    put(s3, "mixed/b.json", json.dumps({"Id": "e2", "ChannelType": "EMAIL", "Address": "b@x.org"}))
    with pytest.raises(ImportFileError, match=r"s3://audience/mixed: mixes formats"):
        import_endpoints(project, f"s3://{BUCKET}/mixed", progress=False)
    report = import_endpoints(project, f"s3://{BUCKET}/mixed", format="json", progress=False)
    assert report.skipped_files == [f"s3://{BUCKET}/mixed/a.csv"]
    assert read_endpoints(project)["Id"].tolist() == ["e2"]


def test_empty_prefix_and_bad_object_are_clear_errors(s3, project: Project) -> None:
    with pytest.raises(ImportFileError, match="no objects under this S3 prefix"):
        import_endpoints(project, f"s3://{BUCKET}/nothing/", progress=False)
    s3.put_object(Bucket=BUCKET, Key="bad/x.csv", Body=b"Id,Address\n\xff\xfe\n")
    with pytest.raises(ImportFileError, match=r"s3://audience/bad/x.csv, line 2: not UTF-8"):
        import_endpoints(project, f"s3://{BUCKET}/bad/", progress=False)


def test_rejects_of_an_s3_import_go_to_the_project_or_where_named(s3, project: Project) -> None:
    put(s3, "in/a.csv", "Id,ChannelType,Address\ne1,EMAIL,nope\ne2,EMAIL,b@example.com\n")
    report = import_endpoints(project, f"s3://{BUCKET}/in/", progress=False)
    assert Path(report.rejects_path).parent == project.path / "rejects"
    assert "not a valid email address" in Path(report.rejects_path).read_text()
    report = import_endpoints(
        project, f"s3://{BUCKET}/in/", rejects=f"s3://{BUCKET}/rejects/a.csv", progress=False
    )
    body = s3.get_object(Bucket=BUCKET, Key="rejects/a.csv")["Body"].read().decode()
    assert body.splitlines()[0] == "file,line,field,reason,raw"
    assert f"s3://{BUCKET}/in/a.csv,2,Address" in body


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_export_to_s3_and_import_back_gives_the_same_endpoints(
    s3, project: Project, tmp_path: Path, fmt: str
) -> None:
    write_endpoints(project, generate_endpoints(300, seed=21))
    first = Project.create(tmp_path / "first")
    export_endpoints(project, f"s3://{BUCKET}/seed/", format=fmt)
    import_endpoints(first, f"s3://{BUCKET}/seed/", progress=False)
    report = export_endpoints(first, f"s3://{BUCKET}/out/endpoints.{fmt}")
    assert report.rows == 300
    again = Project.create(tmp_path / "again")
    import_endpoints(again, f"s3://{BUCKET}/out/", progress=False, now="2031-01-01")
    pd.testing.assert_frame_equal(read_endpoints(again), read_endpoints(first))
