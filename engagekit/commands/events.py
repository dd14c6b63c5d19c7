"""``engagekit events ingest|export|stats|expire|delete-user|generate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from engagekit import events as ev
from engagekit.errors import EngagekitError
from engagekit.project import Project


def _project(args: argparse.Namespace) -> Project:
    return Project.open(args.project)


def _cmd_ingest(args: argparse.Namespace) -> int:
    project = _project(args)
    report = ev.ingest(project, args.source, format=args.format)
    print(report)
    return 0 if report.rejected == 0 or not args.strict else 1


def _cmd_export(args: argparse.Namespace) -> int:
    project = _project(args)
    dest = args.destination
    if dest.startswith(("kinesis:", "firehose:", "s3://")):
        report = ev.export_stream(
            project,
            dest,
            start=args.start,
            end=args.end,
            stream_name=args.stream_name,
            resend=args.resend,
        )
        print(report)
    else:
        written = ev.export_partitions(project, Path(dest), stream_name=args.stream_name)
        print(f"exported {len(written)} hour partitions to {dest}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    project = _project(args)
    con = ev.lake(project, start=args.start, end=args.end)
    where = []
    if args.start:
        where.append(f"event_timestamp >= TIMESTAMPTZ '{args.start}'")
    if args.end:
        where.append(f"event_timestamp < TIMESTAMPTZ '{args.end}'")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    total = con.execute(
        f"SELECT count(*), count(DISTINCT COALESCE(user_id, endpoint_id)), "
        f"min(event_timestamp), max(event_timestamp) FROM events {clause}"
    ).fetchone() or (0, 0, None, None)
    partitions = ev.list_partitions(project.store.events_dir)
    files = ev.lake_files(project.store.events_dir)
    print(f"events: {total[0]:,}  users: {total[1]:,}  from {total[2]} to {total[3]}")
    print(
        f"partitions: {len(partitions):,}  files: {len(files):,}  "
        f"retention: {project.settings.event_retention_days} days"
    )
    by_type = con.execute(
        f"SELECT event_type, count(*) AS events, count(DISTINCT COALESCE(user_id, endpoint_id)) "
        f"AS users FROM events {clause} GROUP BY 1 ORDER BY 2 DESC"
    ).df()
    if not by_type.empty:
        print(by_type.to_string(index=False))
    ingests = (
        project.store.connect()
        .execute(
            "SELECT count(*), COALESCE(sum(accepted), 0), COALESCE(sum(duplicates), 0), "
            "COALESCE(sum(rejected), 0) FROM event_ingests"
        )
        .fetchone()
    )
    print(
        f"ingests: {ingests[0]}  accepted: {ingests[1]:,}  duplicates: {ingests[2]:,}  "
        f"rejected: {ingests[3]:,}"
    )
    return 0


def _cmd_expire(args: argparse.Namespace) -> int:
    project = _project(args)
    report = ev.expire_events(
        project, retention_days=args.days, export_to=args.export_to, dry_run=args.dry_run
    )
    print(report)
    return 0


def _cmd_delete_user(args: argparse.Namespace) -> int:
    project = _project(args)
    print(ev.delete_user_events(project, args.user_id))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    project = _project(args)
    path = project.store.endpoints_path
    if not path.exists():
        raise EngagekitError(
            f"{project.path} has no endpoints ({path}); import endpoints first, "
            "e.g. `engagekit endpoints import`"
        )
    from engagekit.endpoints import read_endpoints

    endpoints = read_endpoints(project)
    total = ev.IngestReport(source="generated")
    for frame in ev.iter_events(
        endpoints, args.events, seed=args.seed, start=args.start or "2026-10-01", days=args.days
    ):
        total.merge(ev.append_events(project, frame, source="generated"))
    print(total)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("events", help="ingest, export and inspect the event lake")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name: str, help_: str, func) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_)
        a.add_argument("--project", "-P", required=True, type=Path, help="project folder")
        a.set_defaults(func=func)
        return a

    a = add("ingest", "ingest NDJSON / CSV / Parquet files, folders or s3:// prefixes", _cmd_ingest)
    a.add_argument("source", help="file, folder, glob or s3://bucket/prefix")
    a.add_argument("--format", choices=["ndjson", "csv", "parquet"], default=None)
    a.add_argument("--strict", action="store_true", help="exit 1 when any event was rejected")
    a = add(
        "export",
        "send events to kinesis:<stream>, firehose:<stream>, s3://… or a folder",
        _cmd_export,
    )
    a.add_argument("destination")
    a.add_argument("--start", default=None, help="first event time, ISO 8601")
    a.add_argument("--end", default=None, help="end event time (exclusive), ISO 8601")
    a.add_argument("--stream-name", default="engagekit", help="name used in S3 object keys")
    a.add_argument("--resend", action="store_true", help="send files already sent again")
    a = add("stats", "event counts by type, users, partitions, ingest totals", _cmd_stats)
    a.add_argument("--start", default=None)
    a.add_argument("--end", default=None)
    a = add("expire", "export then delete partitions older than the retention", _cmd_expire)
    a.add_argument("--days", type=int, default=None, help="override event_retention_days")
    a.add_argument("--export-to", default=None, help="folder or s3:// (default exports/events)")
    a.add_argument("--dry-run", action="store_true")
    a = add("delete-user", "delete every event of one user", _cmd_delete_user)
    a.add_argument("user_id")
    a = add("generate", "generate demo app events for the project's endpoints", _cmd_generate)
    a.add_argument("--events", type=int, default=100_000)
    a.add_argument("--days", type=int, default=30)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--start", default=None, help="first day, ISO 8601 (default 2026-10-01)")
