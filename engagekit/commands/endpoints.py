"""``engagekit endpoints import|export|show|delete-user|generate``, ``engagekit generate-data``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.endpoints import (
    delete_user,
    export_endpoints,
    import_endpoints,
    import_jobs,
    is_list_column,
    read_endpoints,
)
from engagekit.endpoints._validate import nest
from engagekit.errors import EngagekitError
from engagekit.project import Project


class WhereError(EngagekitError):
    """A ``--where`` filter is malformed or names a column the endpoints lack."""


def _project(args: argparse.Namespace) -> Project:
    return Project.open(args.project)


def _cmd_import(args: argparse.Namespace) -> int:
    report = import_endpoints(
        _project(args),
        args.source,
        format=args.format,
        rejects=args.rejects,
        progress=not args.quiet,
    )
    print(report)
    if args.fail_on_rejects and report.rejected:
        return 3
    return 0


def where_mask(df: pd.DataFrame, conditions: list[str]) -> pd.Series:
    """Rows matching every ``COL=VALUE`` (a list column matches when it holds VALUE)."""
    mask = pd.Series(True, index=df.index)
    for cond in conditions:
        column, sep, value = cond.partition("=")
        if not sep or not column:
            raise WhereError(f"--where takes COLUMN=VALUE, not {cond!r}")
        if column not in df.columns:
            raise WhereError(
                f"--where: no column {column!r}; columns are {', '.join(df.columns[:12])}…"
            )
        s = df[column]
        if is_list_column(column):
            arr = pa.array(s.array)
            parents = pc.list_parent_indices(arr).to_numpy()
            equal = pc.fill_null(pc.equal(pc.list_flatten(arr), value), False)
            equal = equal.to_numpy(zero_copy_only=False)
            found = np.zeros(len(s), dtype=bool)
            found[parents[equal]] = True
            hit = pd.Series(found, index=s.index)
        else:
            hit = s.astype("string") == value
        mask &= hit.fillna(False).astype(bool)
    return mask


def _cmd_export(args: argparse.Namespace) -> int:
    df = read_endpoints(_project(args))
    if args.where:
        df = df[where_mask(df, args.where)]
    print(export_endpoints(df, args.dest, format=args.format))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    df = read_endpoints(_project(args))
    if args.id:
        rows = df[df["Id"] == args.id]
        if rows.empty:
            raise EngagekitError(f"no endpoint with Id {args.id!r} in this project")
        record = {k: _json_value(k, v) for k, v in rows.iloc[0].items()}
        print(json.dumps(nest(record), indent=2, default=str, ensure_ascii=False))
        return 0
    if args.where:
        df = df[where_mask(df, args.where)]
    if args.head:
        cols = args.columns.split(",") if args.columns else list(df.columns[:8])
        head = df[cols].head(args.head).copy()
        for col in cols:
            if is_list_column(col):
                head[col] = head[col].map(lambda v: "" if v is None else "|".join(v))
        print(head.to_string(index=False))
        return 0
    print(f"{len(df):,} endpoints, {df['User.UserId'].nunique():,} users")
    if len(df):
        summary = (
            df.groupby(["ChannelType", "EndpointStatus"], observed=True)
            .size()
            .unstack(fill_value=0)
        )
        print(summary.to_string())
        print(f"opted out (OptOut=ALL): {(df['OptOut'] == 'ALL').sum():,}")
    return 0


def _json_value(column: str, value: object) -> object:
    if is_list_column(column):
        return None if value is None or value is pd.NA else list(value)  # type: ignore[call-overload]
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return None
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _cmd_jobs(args: argparse.Namespace) -> int:
    jobs = import_jobs(_project(args)).head(args.last)
    if jobs.empty:
        print("no imports yet")
        return 0
    cols = ["job_id", "status", "format", "read_rows", "imported", "rejected", "source", "error"]
    print(jobs[cols].fillna("").to_string(index=False))
    return 0


def _cmd_delete_user(args: argparse.Namespace) -> int:
    removed = delete_user(_project(args), args.user_id)
    print(f"deleted {removed} endpoint(s) of user {args.user_id!r}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from engagekit.sample import write_sample

    path = write_sample(
        args.out,
        args.rows,
        seed=args.seed,
        format=args.format,
        as_of=args.as_of,
        progress=not args.quiet,
    )
    print(f"wrote {args.rows:,} endpoints to {path}")
    return 0


def _add_generate_args(p: argparse.ArgumentParser) -> None:
    from engagekit.sample import DEFAULT_AS_OF

    p.add_argument("--rows", type=int, default=10_000, help="endpoints to generate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="file to write (.csv or .ndjson)")
    p.add_argument("--format", choices=["csv", "ndjson"], default=None)
    p.add_argument("--as-of", default=DEFAULT_AS_OF, help="the generated data's 'now'")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_generate)


def register(sub: argparse._SubParsersAction) -> None:
    ep = sub.add_parser("endpoints", help="import, export, inspect and delete endpoints")
    esub = ep.add_subparsers(dest="endpoints_command", metavar="ACTION", required=True)

    p = esub.add_parser("import", help="import CSV / NDJSON endpoints (file, folder, s3://)")
    p.add_argument("source", help="a file, a folder, or s3://bucket/prefix")
    p.add_argument("--project", "-P", required=True, type=Path)
    p.add_argument("--format", choices=["csv", "ndjson"], default=None)
    p.add_argument("--rejects", default=None, help="where to write rejected rows (default: beside)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--fail-on-rejects", action="store_true", help="exit 3 when any row was rejected"
    )
    p.set_defaults(func=_cmd_import)

    p = esub.add_parser("export", help="export endpoints (or a subset) to CSV / NDJSON")
    p.add_argument("dest", help="a file or s3://bucket/key")
    p.add_argument("--project", "-P", required=True, type=Path)
    p.add_argument("--format", choices=["csv", "ndjson"], default=None)
    p.add_argument("--where", action="append", metavar="COL=VALUE", help="filter (repeatable)")
    p.set_defaults(func=_cmd_export)

    p = esub.add_parser("show", help="summary, the first rows, or one endpoint as JSON")
    p.add_argument("--project", "-P", required=True, type=Path)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--id", help="print this endpoint as Pinpoint JSON")
    group.add_argument("--head", type=int, help="print the first N rows")
    p.add_argument("--columns", help="comma-separated columns for --head")
    p.add_argument("--where", action="append", metavar="COL=VALUE", help="filter (repeatable)")
    p.set_defaults(func=_cmd_show)

    p = esub.add_parser("jobs", help="the project's import jobs, newest first")
    p.add_argument("--project", "-P", required=True, type=Path)
    p.add_argument("--last", type=int, default=20)
    p.set_defaults(func=_cmd_jobs)

    p = esub.add_parser("delete-user", help="delete every endpoint (and event) of a user")
    p.add_argument("user_id")
    p.add_argument("--project", "-P", required=True, type=Path)
    p.set_defaults(func=_cmd_delete_user)

    _add_generate_args(esub.add_parser("generate", help="write realistic sample endpoints"))
    _add_generate_args(sub.add_parser("generate-data", help="write realistic sample endpoints"))
