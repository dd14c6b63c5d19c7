from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pytest

from engagekit import ImportFileError, Project
from engagekit.endpoints import (
    CORE_COLUMNS,
    LIST_DTYPE,
    EndpointFrameError,
    delete_user,
    export_endpoints,
    generated_ids,
    import_endpoints,
    import_jobs,
    read_endpoints,
    read_rejects,
    write_endpoints,
)
from engagekit.endpoints._phones import _fast_valid, to_e164
from engagekit.sample import generate_endpoints

NOW = "2026-11-02T00:00:00Z"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_import(project: Project, path: Path | str, **kwargs) -> object:
    kwargs.setdefault("progress", False)
    kwargs.setdefault("now", NOW)
    return import_endpoints(project, path, **kwargs)


def by_id(project: Project) -> pd.DataFrame:
    return read_endpoints(project).set_index("Id")


# -- snapshot ----------------------------------------------------------------------------------
def test_write_then_read_keeps_values_and_dtypes(project: Project) -> None:
    df = generate_endpoints(300, seed=1)
    write_endpoints(project, df)
    back = read_endpoints(project)
    pd.testing.assert_frame_equal(back, df)
    assert back["Attributes.interests"].dtype == LIST_DTYPE


def test_read_of_an_empty_project_has_the_core_columns(project: Project) -> None:
    df = read_endpoints(project)
    assert list(df.columns) == list(CORE_COLUMNS)
    assert len(df) == 0


def test_read_columns_subset_fills_unknown_columns_with_nulls(project: Project) -> None:
    write_endpoints(project, generate_endpoints(50, seed=2))
    df = read_endpoints(project, columns=["Id", "Attributes.plan", "Attributes.missing"])
    assert list(df.columns) == ["Id", "Attributes.plan", "Attributes.missing"]
    assert df["Attributes.missing"].isna().all()
    assert df["Attributes.missing"].dtype == LIST_DTYPE


def test_write_refuses_duplicate_or_missing_ids(project: Project) -> None:
    df = generate_endpoints(10, seed=3)
    dup = pd.concat([df, df.iloc[:1]], ignore_index=True)
    with pytest.raises(EndpointFrameError, match="must be unique; duplicated: ep-00000000"):
        write_endpoints(project, dup)
    missing = df.assign(Id=[None, *df["Id"].tolist()[1:]])
    with pytest.raises(EndpointFrameError, match="1 endpoint\\(s\\) have no Id"):
        write_endpoints(project, missing)
    assert not project.store.endpoints_path.exists()


# -- import semantics --------------------------------------------------------------------------
def test_import_csv_reports_counts_and_types(project: Project, tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv",
        """
        Id,ChannelType,Address,Location.Country,Attributes.plan,Metrics.visits,User.UserId
        e1,EMAIL,ada@example.com,US,pro,3,u1
        e2,SMS,+12125550123,US,free,1.5,u1
        """,
    )
    report = run_import(project, src)
    assert (report.read, report.imported, report.created, report.rejected) == (2, 2, 2, 0)
    assert report.rejects_path is None
    df = by_id(project)
    assert list(df.loc["e1", "Attributes.plan"]) == ["pro"]
    assert df.loc["e2", "Metrics.visits"] == 1.5
    assert df.loc["e1", "EndpointStatus"] == "ACTIVE"
    assert df.loc["e1", "OptOut"] == "NONE"
    assert df.loc["e1", "CreationDate"] == pd.Timestamp(NOW)
    assert "read 2 rows" in str(report)


def test_row_with_existing_id_updates_only_the_given_fields(
    project: Project, tmp_path: Path
) -> None:
    first = write(
        tmp_path / "a.csv",
        """
        Id,ChannelType,Address,Location.City,Attributes.plan,Metrics.visits
        e1,EMAIL,ada@example.com,Berlin,pro,3
        """,
    )
    run_import(project, first)
    second = write(
        tmp_path / "b.csv",
        """
        Id,Location.City,Metrics.visits
        e1,Paris,
        """,
    )
    report = run_import(project, second, now="2026-11-03T00:00:00Z")
    assert (report.created, report.updated) == (0, 1)
    row = by_id(project).loc["e1"]
    assert row["Location.City"] == "Paris"
    assert row["Metrics.visits"] == 3
    assert list(row["Attributes.plan"]) == ["pro"]
    assert row["Address"] == "ada@example.com"
    assert row["EffectiveDate"] == pd.Timestamp("2026-11-03T00:00:00Z")
    assert row["CreationDate"] == pd.Timestamp(NOW)


def test_an_address_update_is_validated_with_the_stored_channel_and_country(
    project: Project, tmp_path: Path
) -> None:
    run_import(
        project,
        write(
            tmp_path / "a.csv", "Id,ChannelType,Address,Location.Country\ns1,SMS,+12125550123,US\n"
        ),
    )
    report = run_import(
        project, write(tmp_path / "b.csv", "Id,Address\ns1,(212) 555-0199\ns1,oops\n")
    )
    assert (report.imported, report.rejected) == (1, 1)
    assert by_id(project).loc["s1", "Address"] == "+12125550199"


def test_opt_out_all_survives_an_import_that_omits_opt_out(
    project: Project, tmp_path: Path
) -> None:
    run_import(
        project,
        write(tmp_path / "a.csv", "Id,ChannelType,Address,OptOut\ne1,EMAIL,a@example.com,ALL\n"),
    )
    run_import(project, write(tmp_path / "b.csv", "Id,Location.City\ne1,Oslo\n"))
    run_import(project, write(tmp_path / "c.ndjson", '{"Id": "e1", "Address": "a@example.com"}\n'))
    assert by_id(project).loc["e1", "OptOut"] == "ALL"
    run_import(project, write(tmp_path / "d.csv", "Id,OptOut\ne1,NONE\n"))
    assert by_id(project).loc["e1", "OptOut"] == "NONE"


def test_new_endpoint_without_address_or_channel_is_rejected(
    project: Project, tmp_path: Path
) -> None:
    src = write(
        tmp_path / "in.csv",
        """
        Id,ChannelType,Address
        e1,EMAIL,
        e2,,b@example.com
        ,EMAIL,
        e3,EMAIL,c@example.com
        """,
    )
    report = run_import(project, src)
    assert (report.read, report.imported, report.rejected) == (4, 1, 3)
    rejects = read_rejects(report.rejects_path)
    assert rejects["line"].tolist() == [2, 3, 4]
    assert set(rejects["reason"]) == {"a new endpoint needs Address and ChannelType"}


def test_missing_id_is_generated_and_reimport_updates_the_same_endpoint(
    project: Project, tmp_path: Path
) -> None:
    src = write(tmp_path / "in.csv", "ChannelType,Address,Metrics.visits\nEMAIL,a@example.com,1\n")
    run_import(project, src)
    ids = read_endpoints(project)["Id"].tolist()
    expected = generated_ids(pa.array(["EMAIL"]), pa.array(["a@example.com"]))[0].as_py()
    assert ids == [expected]
    report = run_import(
        project,
        write(
            tmp_path / "again.csv", "ChannelType,Address,Metrics.visits\nEMAIL,a@example.com,2\n"
        ),
    )
    assert (report.created, report.updated) == (0, 1)
    assert read_endpoints(project)["Metrics.visits"].tolist() == [2.0]


def test_address_without_id_reuses_the_endpoint_already_holding_it(
    project: Project, tmp_path: Path
) -> None:
    run_import(project, write(tmp_path / "a.csv", "Id,ChannelType,Address\nmine,EMAIL,a@x.org\n"))
    report = run_import(
        project,
        write(tmp_path / "b.csv", "ChannelType,Address,Location.City\nEMAIL,a@x.org,Rome\n"),
    )
    assert report.updated == 1
    assert by_id(project).loc["mine", "Location.City"] == "Rome"


def test_shared_address_leaves_only_the_most_recent_endpoint_active(
    project: Project, tmp_path: Path
) -> None:
    src = write(
        tmp_path / "in.csv",
        """
        Id,ChannelType,Address,EffectiveDate
        old,EMAIL,same@example.com,2026-01-01T00:00:00Z
        new,EMAIL,same@example.com,2026-06-01T00:00:00Z
        mid,EMAIL,same@example.com,2026-03-01T00:00:00Z
        sms,SMS,+12125550123,2026-01-01T00:00:00Z
        voice,VOICE,+12125550123,2026-01-01T00:00:00Z
        """,
    )
    report = run_import(project, src)
    assert report.deactivated == 2
    status = by_id(project)["EndpointStatus"]
    assert status.to_dict() == {
        "old": "INACTIVE",
        "new": "ACTIVE",
        "mid": "INACTIVE",
        "sms": "ACTIVE",  # same number on another channel is another endpoint
        "voice": "ACTIVE",
    }
    # a later update of "old" makes it the most recent one
    report = run_import(project, write(tmp_path / "b.csv", "Id,EndpointStatus\nold,ACTIVE\n"))
    assert report.deactivated == 1
    status = by_id(project)["EndpointStatus"]
    assert (status["old"], status["new"]) == ("ACTIVE", "INACTIVE")


def test_eleventh_endpoint_of_a_user_is_rejected(project: Project, tmp_path: Path) -> None:
    rows = [f"e{i},EMAIL,u{i}@example.com,user-1" for i in range(9)]
    run_import(
        project, write(tmp_path / "a.csv", "Id,ChannelType,Address,User.UserId\n" + "\n".join(rows))
    )
    more = [f"f{i},EMAIL,v{i}@example.com,user-1" for i in range(3)]
    more.append("e0,EMAIL,u0@example.com,user-1")  # already the user's: always fine
    report = run_import(
        project, write(tmp_path / "b.csv", "Id,ChannelType,Address,User.UserId\n" + "\n".join(more))
    )
    assert (report.read, report.imported, report.rejected) == (4, 2, 2)
    rejects = read_rejects(report.rejects_path)
    assert rejects["line"].tolist() == [3, 4]
    assert rejects["field"].tolist() == ["User.UserId", "User.UserId"]
    assert rejects["reason"].str.contains("already has 10 endpoints").all()
    df = read_endpoints(project)
    assert (df["User.UserId"] == "user-1").sum() == 10
    assert "f0" in set(df["Id"]) and "f1" not in set(df["Id"])


def test_repeated_id_in_one_file_merges_in_order(project: Project, tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv",
        """
        Id,ChannelType,Address,Location.City,Metrics.visits
        e1,EMAIL,a@example.com,Berlin,1
        e1,,,Paris,
        """,
    )
    report = run_import(project, src)
    assert (report.read, report.imported, report.created) == (2, 2, 1)
    row = by_id(project).loc["e1"]
    assert (row["Location.City"], row["Metrics.visits"]) == ("Paris", 1.0)


# -- validation --------------------------------------------------------------------------------
def test_addresses_are_validated_and_normalized(project: Project, tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv",
        """
        Id,ChannelType,Address,Location.Country
        mail,EMAIL,Ada.Lovelace@EXAMPLE.com,
        badmail,EMAIL,not-an-email,
        local,SMS,020 7946 0958,GB
        nocountry,SMS,2125550123,
        intl,SMS,+44 20 7946 0958,US
        badphone,SMS,+1 555,US
        push,APNS,token-abc,
        """,
    )
    report = run_import(project, src)
    df = by_id(project)
    assert df.loc["mail", "Address"] == "Ada.Lovelace@example.com"
    assert df.loc["local", "Address"] == "+442079460958"
    assert df.loc["intl", "Address"] == "+442079460958"
    assert df.loc["push", "Address"] == "token-abc"
    rejects = read_rejects(report.rejects_path).set_index("line")
    assert set(rejects.index) == {3, 5, 7}
    assert "not a valid email address" in rejects.loc[3, "reason"]
    assert "no valid Location.Country" in rejects.loc[5, "reason"]
    assert "'+1 555'" in rejects.loc[7, "reason"]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("ChannelType", "FAX", "'FAX' is not one of"),
        ("EndpointStatus", "PAUSED", "'PAUSED' is not one of ACTIVE, INACTIVE"),
        ("OptOut", "SOME", "'SOME' is not one of ALL, NONE"),
        ("Location.Country", "USA", "ISO 3166-1 alpha-2"),
        ("Demographic.Timezone", "Mars/Base", "not an IANA time zone"),
        ("Demographic.Locale", "english!", "not a locale"),
        ("Metrics.visits", "many", "not a number"),
        ("Metrics.visits", "inf", "not a finite number"),
        ("Location.Latitude", "91", "outside [-90, 90]"),
        ("Location.Longitude", "east", "not a number"),
        ("EffectiveDate", "01/02/2026", "not an ISO 8601 date-time"),
        ("CreationDate", "20260102", "not an ISO 8601 date-time"),
        ("Attributes.plan", "x" * 101, "a value longer than 100 characters"),
        ("Attributes.plan", json.dumps([str(i) for i in range(51)]), "more than 50 values"),
        ("Attributes.plan", "[not json", "must be a JSON array of strings"),
        ("User.UserId", "u" * 257, "longer than 256 characters"),
        ("Location.City", "c" * 300, "longer than 256 characters"),
    ],
)
def test_each_field_rule_rejects_the_row_with_its_reason(
    project: Project, tmp_path: Path, column: str, value: str, reason: str
) -> None:
    frame = pd.DataFrame(
        {"Id": ["good", "bad"], "ChannelType": ["EMAIL", "EMAIL"], column: ["", value]}
    )
    frame["Address"] = ["a@example.com", "b@example.com"]
    if column == "ChannelType":
        frame[column] = ["EMAIL", value]
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    report = run_import(project, src)
    assert (report.read, report.imported, report.rejected) == (2, 1, 1)
    rejects = read_rejects(report.rejects_path)
    assert rejects.loc[0, "field"] == column
    assert reason in rejects.loc[0, "reason"]
    assert rejects.loc[0, "line"] == 3
    assert read_endpoints(project)["Id"].tolist() == ["good"]


def test_csv_cells_become_lists_and_json_arrays_hold_several_values(
    project: Project, tmp_path: Path
) -> None:
    src = write(
        tmp_path / "in.csv",
        """
        Id,ChannelType,Address,Attributes.interests,User.UserAttributes.Name
        e1,EMAIL,a@example.com,"[""yoga"", ""tennis""]",Ada
        e2,EMAIL,b@example.com,[],"Lovelace, Ada"
        """,
    )
    run_import(project, src)
    df = by_id(project)
    assert list(df.loc["e1", "Attributes.interests"]) == ["yoga", "tennis"]
    assert list(df.loc["e2", "Attributes.interests"]) == []
    assert list(df.loc["e2", "User.UserAttributes.Name"]) == ["Lovelace, Ada"]


def test_rejects_keep_exact_lines_across_quoted_newlines_and_blank_lines(
    project: Project, tmp_path: Path
) -> None:
    src = write(
        tmp_path / "in.csv",
        'Id,ChannelType,Address,Location.City\ne1,EMAIL,a@example.com,"two\nlines"\n\n'
        "e2,EMAIL,bad,Rome\ne3,EMAIL,c@example.com,too,many\ne4,EMAIL,d@example.com,Oslo\n",
    )
    report = run_import(project, src)
    assert (report.read, report.imported, report.rejected) == (4, 2, 2)
    rejects = read_rejects(report.rejects_path)
    assert rejects["line"].tolist() == [5, 6]
    assert rejects.loc[0, "raw"] == "e2,EMAIL,bad,Rome"
    assert "expected 4 fields" in rejects.loc[1, "reason"]
    assert by_id(project).loc["e1", "Location.City"] == "two\nlines"


def test_rejects_file_goes_beside_the_input_or_where_named(
    project: Project, tmp_path: Path
) -> None:
    src = write(tmp_path / "people.csv", "Id,ChannelType,Address\ne1,EMAIL,nope\n")
    report = run_import(project, src)
    assert Path(report.rejects_path) == tmp_path / "people.rejects.csv"
    target = tmp_path / "out" / "bad.csv"
    report = run_import(project, src, rejects=target)
    assert Path(report.rejects_path) == target
    assert list(read_rejects(target).columns) == ["file", "line", "field", "reason", "raw"]


def test_only_empty_cells_are_missing_values(project: Project, tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv",
        "Id,ChannelType,Address,User.UserId,Location.City\ne1,EMAIL,a@example.com,NA,null\n"
        'e2,EMAIL,b@example.com,"",NaN\n',
    )
    run_import(project, src)
    df = by_id(project)
    assert (df.loc["e1", "User.UserId"], df.loc["e1", "Location.City"]) == ("NA", "null")
    assert pd.isna(df.loc["e2", "User.UserId"])
    assert df.loc["e2", "Location.City"] == "NaN"


def test_utf8_bom_and_crlf_line_endings_are_read(project: Project, tmp_path: Path) -> None:
    src = tmp_path / "bom.csv"
    src.write_bytes(b"\xef\xbb\xbfId,ChannelType,Address\r\ne1,EMAIL,a@example.com\r\n")
    report = run_import(project, src)
    assert report.imported == 1
    assert read_endpoints(project)["Address"].tolist() == ["a@example.com"]


# -- NDJSON ------------------------------------------------------------------------------------
def test_ndjson_nested_objects_import_like_pinpoint(project: Project, tmp_path: Path) -> None:
    records = [
        {
            "Id": "e1",
            "ChannelType": "SMS",
            "Address": "2125550123",
            "Location": {"Country": "US", "City": "New York", "Latitude": 40.7},
            "Demographic": {"Timezone": "America/New_York", "Platform": "iOS"},
            "Attributes": {"interests": ["yoga", "tennis"], "plan": "pro"},
            "Metrics": {"visits": 4},
            "User": {"UserId": "u1", "UserAttributes": {"FirstName": ["Ada"]}},
            "EffectiveDate": "2026-10-01T08:00:00Z",
        },
        {"Id": "e2", "ChannelType": "EMAIL", "Address": "b@example.com"},
    ]
    src = tmp_path / "in.ndjson"
    src.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    report = run_import(project, src)
    assert (report.format, report.imported) == ("ndjson", 2)
    row = by_id(project).loc["e1"]
    assert row["Address"] == "+12125550123"
    assert list(row["Attributes.interests"]) == ["yoga", "tennis"]
    assert list(row["Attributes.plan"]) == ["pro"]
    assert list(row["User.UserAttributes.FirstName"]) == ["Ada"]
    assert row["Location.Latitude"] == 40.7
    assert row["Metrics.visits"] == 4.0


def test_ndjson_bad_lines_are_rejected_with_their_line(project: Project, tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.ndjson",
        """
        {"Id": "e1", "ChannelType": "EMAIL", "Address": "a@example.com"}
        {"Id": "e2", "ChannelType": "EMAIL", "Address": "b@exa
        [1, 2]
        {"Id": "e3", "ChannelType": "EMAIL", "Address": {"x": 1}}
        {"Id": "e4", "ChannelType": "EMAIL", "Address": "d@example.com", "Foo": 1}
        {"Id": "e5", "ChannelType": "EMAIL", "Address": "e@example.com", "Location": "US"}

        {"Id": "e6", "ChannelType": "EMAIL", "Address": "f@example.com", "Metrics": {"n": "x"}}
        """,
    )
    report = run_import(project, src)
    assert (report.read, report.imported, report.rejected) == (7, 1, 6)
    rejects = read_rejects(report.rejects_path)
    assert rejects["line"].tolist() == [2, 3, 4, 5, 6, 8]
    reasons = rejects["reason"].tolist()
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1] == "expected a JSON object, found list"
    assert rejects["field"].tolist()[2:] == ["Address", "Foo", "Location", "Metrics.n"]


# -- file-level errors -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"Id,ChannelType,Address\ne1,EMAIL,caf\xe9@example.com\n", r"line 2: not UTF-8"),
        (b"\xff\xfeI\x00d\x00", "UTF-16"),
        (b"Id,Address\x00\x01\x02", "binary content"),
        (b"Id,Chanel,Address\ne1,EMAIL,a@b.co\n", "unknown column 'Chanel'"),
        (b"name,email\nAda,a@b.co\n", "unknown column 'name'"),
        (b"Id,Id\n1,2\n", "names 'Id' twice"),
        (b'{"Id": "e1"}\n', "holds JSON, not CSV"),
    ],
)
def test_unreadable_csv_file_gets_one_clear_error_naming_it(
    project: Project, tmp_path: Path, content: bytes, message: str
) -> None:
    src = tmp_path / "broken.csv"
    src.write_bytes(content)
    with pytest.raises(ImportFileError, match=message) as info:
        run_import(project, src)
    assert info.value.file == str(src)
    assert str(src) in str(info.value)
    assert not project.store.endpoints_path.exists()


def test_unknown_column_suggests_the_pinpoint_name(project: Project, tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", "Id,channeltype,Address\ne1,EMAIL,a@b.co\n")
    with pytest.raises(ImportFileError, match="did you mean 'ChannelType'"):
        run_import(project, src)


def test_ndjson_file_with_csv_lines_is_refused(project: Project, tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.ndjson",
        '{"Id": "e1", "ChannelType": "EMAIL", "Address": "a@example.com"}\ne2,EMAIL,b@x.org\n',
    )
    with pytest.raises(ImportFileError, match="line 2: mixes formats"):
        run_import(project, src)
    src = write(tmp_path / "csv.ndjson", "Id,ChannelType,Address\ne1,EMAIL,a@example.com\n")
    with pytest.raises(ImportFileError, match="looks like CSV"):
        run_import(project, src)


def test_folder_with_two_formats_needs_a_format(project: Project, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    (folder / "sub").mkdir(parents=True)
    write(folder / "a.csv", "Id,ChannelType,Address\ne1,EMAIL,a@example.com\n")
    write(
        folder / "sub" / "b.ndjson", '{"Id": "e2", "ChannelType": "EMAIL", "Address": "b@x.org"}\n'
    )
    with pytest.raises(ImportFileError, match=r"mixes formats: a.csv \(csv\), b.ndjson \(ndjson\)"):
        run_import(project, folder)
    report = run_import(project, folder, format="ndjson")
    assert report.skipped_files == [str(folder / "a.csv")]
    write(folder / "sub" / "old.rejects.csv", "file,line,field,reason,raw\n")
    write(folder / "_SUCCESS", "")
    assert run_import(project, folder, format="ndjson").files == [str(folder / "sub" / "b.ndjson")]
    assert read_endpoints(project)["Id"].tolist() == ["e2"]


def test_a_bad_file_in_a_folder_leaves_the_store_as_it_was(
    project: Project, tmp_path: Path
) -> None:
    run_import(project, write(tmp_path / "first.csv", "Id,ChannelType,Address\ne0,EMAIL,z@x.org\n"))
    before = project.store.endpoints_path.read_bytes()
    folder = tmp_path / "drop"
    folder.mkdir()
    write(folder / "a.csv", "Id,ChannelType,Address\ne1,EMAIL,a@example.com\n")
    (folder / "b.csv").write_bytes(b"Id,ChannelType,Address\ne2,EMAIL,\xff@x.org\n")
    with pytest.raises(ImportFileError, match=r"b\.csv, line 2: not UTF-8"):
        run_import(project, folder)
    assert project.store.endpoints_path.read_bytes() == before


def test_a_failed_write_leaves_the_snapshot_untouched(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_import(project, write(tmp_path / "a.csv", "Id,ChannelType,Address\ne0,EMAIL,z@x.org\n"))
    before = project.store.endpoints_path.read_bytes()
    import pyarrow.parquet as pq

    real = pq.write_table

    def half_then_fail(table, where, **kwargs):
        real(table.slice(0, 1), where, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        run_import(project, write(tmp_path / "b.csv", "Id,ChannelType,Address\ne1,EMAIL,a@x.org\n"))
    monkeypatch.undo()
    assert project.store.endpoints_path.read_bytes() == before
    assert read_endpoints(project)["Id"].tolist() == ["e0"]


def test_every_import_is_logged_as_a_job(project: Project, tmp_path: Path) -> None:
    ok = run_import(project, write(tmp_path / "a.csv", "Id,ChannelType,Address\ne1,EMAIL,nope\n"))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportFileError):
        run_import(project, empty)
    jobs = import_jobs(project)
    assert jobs["status"].tolist() == ["FAILED", "COMPLETED"]
    done = jobs.iloc[1]
    assert done["job_id"] == ok.job_id
    assert (done["read_rows"], done["imported"], done["rejected"]) == (1, 0, 1)
    assert done["rejects_path"] == ok.rejects_path
    assert "the file is empty" in jobs.iloc[0]["error"]


# -- export ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_import_export_import_gives_the_same_endpoints(
    project: Project, tmp_path: Path, fmt: str
) -> None:
    write_endpoints(project, generate_endpoints(400, seed=11))
    first = tmp_path / f"first.{fmt}"
    export_endpoints(project, first)
    p1 = Project.create(tmp_path / "p1")
    run_import(p1, first)
    second = tmp_path / f"second.{fmt}"
    report = export_endpoints(p1, second, format=fmt)
    assert (report.rows, report.format) == (400, fmt)
    p2 = Project.create(tmp_path / "p2")
    run_import(p2, second, now="2030-01-01T00:00:00Z")
    pd.testing.assert_frame_equal(read_endpoints(p2), read_endpoints(p1))


def test_export_of_a_subset_leaves_out_empty_columns(project: Project, tmp_path: Path) -> None:
    df = generate_endpoints(200, seed=4)
    emails = df[df["ChannelType"] == "EMAIL"].assign(**{"Attributes.unused": None})
    report = export_endpoints(emails, tmp_path / "emails.csv")
    out = pd.read_csv(tmp_path / "emails.csv", dtype=str)
    assert report.rows == len(emails) == len(out)
    assert set(out["ChannelType"]) == {"EMAIL"}
    assert "Attributes.unused" not in out.columns
    assert "Attributes.plan" in out.columns
    assert out.columns[:3].tolist() == ["Id", "ChannelType", "Address"]


def test_export_ndjson_is_nested_like_pinpoint(tmp_path: Path) -> None:
    df = generate_endpoints(5, seed=5)
    export_endpoints(df, tmp_path / "out.json")
    first = json.loads((tmp_path / "out.json").read_text().splitlines()[0])
    assert first["Id"] == "ep-00000000"
    assert first["User"]["UserId"] == "user-00000000"
    assert isinstance(first["User"]["UserAttributes"]["FirstName"], list)
    assert first["Location"]["Country"] == df.loc[0, "Location.Country"]
    assert first["EffectiveDate"].endswith("Z")


# -- delete ------------------------------------------------------------------------------------
def test_delete_user_removes_all_its_endpoints_and_calls_the_events_hook(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engagekit.events as events

    calls = []
    monkeypatch.setattr(events, "delete_user_events", lambda p, u: calls.append(u), raising=False)
    df = generate_endpoints(100, seed=6)
    write_endpoints(project, df)
    user = df["User.UserId"].iloc[0]
    mine = int((df["User.UserId"] == user).sum())
    assert delete_user(project, user) == mine
    left = read_endpoints(project)
    assert user not in set(left["User.UserId"])
    assert len(left) == 100 - mine
    assert calls == [user]
    assert delete_user(project, "nobody") == 0


# -- phones ------------------------------------------------------------------------------------
def test_vectorized_e164_check_agrees_with_phonenumbers() -> None:
    rng = np.random.default_rng(7)
    codes = [1, 7, 20, 27, 31, 33, 34, 39, 44, 49, 52, 55, 61, 64, 65, 81, 86, 91, 234, 353, 971]
    numbers = [
        "+" + str(codes[rng.integers(len(codes))]) + "".join(map(str, rng.integers(0, 10, n)))
        for n in rng.integers(5, 13, 3000)
    ]
    fast = _fast_valid(pa.array(numbers))
    for number, accepted in zip(numbers, fast, strict=True):
        parsed = phonenumbers.parse(number)
        if accepted:  # the fast path only ever accepts what the library accepts unchanged
            assert phonenumbers.is_valid_number(parsed), number
            assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number
    _clean, bad, _ = to_e164(pa.array(numbers), pa.array([None] * len(numbers), pa.string()))
    library = [phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in numbers]
    assert (~bad).tolist() == library
    assert fast.sum() > 0.8 * sum(library)


# -- concurrency -------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_processes_importing_into_one_project_both_land(
    project: Project, tmp_path: Path
) -> None:
    files = []
    for k in range(2):
        rows = [f"p{k}-{i},EMAIL,p{k}.{i}@example.com" for i in range(300)]
        files.append(write(tmp_path / f"in{k}.csv", "Id,ChannelType,Address\n" + "\n".join(rows)))
    script = (
        "import sys\nfrom engagekit import Project\n"
        "from engagekit.endpoints import import_endpoints\n"
        "r = import_endpoints(Project.open(sys.argv[1]), sys.argv[2], progress=False)\n"
        "assert r.imported == 300, r\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(project.path), str(f)]) for f in files
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    ids = set(read_endpoints(project)["Id"])
    assert len(ids) == 600
    assert {"p0-0", "p1-299"} <= ids
