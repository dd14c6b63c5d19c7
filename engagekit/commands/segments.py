"""``engagekit segments list|show|estimate|export|save|import|reimport|copy|delete``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from engagekit.errors import DefinitionError
from engagekit.project import Project
from engagekit.segments import (
    Segment,
    copy_segment,
    delete_segment,
    estimate,
    export_members,
    from_pinpoint,
    import_segment,
    list_segments,
    load_segment,
    reimport_segment,
    save_segment,
    to_pinpoint,
    to_sql,
)


def _project(args: argparse.Namespace) -> Project:
    return Project.open(args.project)


def _load(args: argparse.Namespace) -> tuple[Project, Segment]:
    project = _project(args)
    return project, load_segment(project, args.name, args.version)


def _sessions(project: Project, wanted: bool) -> pd.DataFrame | None:
    if not wanted:
        return None
    from engagekit.events import read_events

    return read_events(
        project,
        event_types="_session.start",
        columns=["endpoint_id", "event_type", "event_timestamp"],
    )


def _cmd_list(args: argparse.Namespace) -> int:
    table = list_segments(_project(args), include_deleted=args.deleted)
    if table.empty:
        print("no segments saved yet (save one with `engagekit segments save FILE.json`)")
        return 0
    print(table.to_string(index=False))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    project, seg = _load(args)
    if args.format == "pinpoint":
        print(json.dumps(to_pinpoint(seg), indent=2))
    elif args.format == "sql":
        print(to_sql(seg, f"read_parquet('{project.store.endpoints_path}')", project=project))
    else:
        print(json.dumps(seg.to_dict(), indent=2))
    return 0


def _cmd_estimate(args: argparse.Namespace) -> int:
    from engagekit.endpoints import read_endpoints

    project, seg = _load(args)
    est = estimate(
        seg,
        read_endpoints(project),
        project=project,
        now=args.now,
        events=_sessions(project, args.sessions),
    )
    if args.json:
        print(
            json.dumps(
                {
                    "segment": est.segment,
                    "endpoints": est.endpoints,
                    "total": est.total,
                    "messageable": est.messageable,
                    "by_channel": dict(est.by_channel),
                    "messageable_by_channel": dict(est.messageable_by_channel),
                    "excluded": dict(est.excluded),
                }
            )
        )
    else:
        print(est.summary())
        if est.total:
            print(est.to_frame().to_string())
    if args.funnel:
        from engagekit.segments import funnel

        steps = funnel(
            seg,
            read_endpoints(project),
            project=project,
            now=args.now,
            events=_sessions(project, args.sessions),
        )
        print(steps.to_string(index=False))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from engagekit.endpoints import read_endpoints

    project, seg = _load(args)
    n = export_members(
        seg,
        read_endpoints(project),
        args.dest,
        format=args.format,
        project=project,
        now=args.now,
        events=_sessions(project, args.sessions),
        messageable_only=args.messageable,
    )
    print(f"exported {n:,} members of {seg.name!r} to {args.dest}")
    return 0


def _cmd_save(args: argparse.Namespace) -> int:
    try:
        doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DefinitionError(f"{args.file}: expected a JSON segment definition ({exc})") from exc
    seg = from_pinpoint(doc)
    if args.name:
        seg = seg.model_copy(update={"name": args.name})
    version = save_segment(_project(args), seg, comment=args.comment)
    print(f"saved segment {seg.name!r} version {version}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    seg = import_segment(args.name, args.source, format=args.format)
    version = save_segment(_project(args), seg, comment=f"imported from {args.source}")
    assert seg.import_definition is not None
    print(
        f"imported segment {seg.name!r} version {version}: "
        f"{seg.import_definition.size:,} endpoints from {args.source}"
    )
    return 0


def _cmd_reimport(args: argparse.Namespace) -> int:
    project = _project(args)
    version = reimport_segment(project, args.name)
    seg = load_segment(project, args.name)
    assert seg.import_definition is not None
    print(
        f"reimported {args.name!r} as version {version}: {seg.import_definition.size:,} endpoints"
    )
    return 0


def _cmd_copy(args: argparse.Namespace) -> int:
    copy_segment(_project(args), args.name, args.new_name)
    print(f"copied {args.name!r} to {args.new_name!r}")
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    delete_segment(_project(args), args.name)
    print(f"deleted {args.name!r} (campaigns that pinned a version still read it)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser("segments", help="list, show, estimate and export segments")
    sub = top.add_subparsers(dest="segments_command", metavar="ACTION", required=True)

    def add(name: str, func, help: str, *, named: bool = True) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--project", "-P", required=True, type=Path, help="project folder")
        if named:
            p.add_argument("name", help="segment name")
        p.set_defaults(func=func)
        return p

    p = add("list", _cmd_list, "saved segments with their versions", named=False)
    p.add_argument("--deleted", action="store_true", help="include deleted segments")

    def versioned(p: argparse.ArgumentParser) -> None:
        p.add_argument("--version", type=int, default=None, help="a pinned version")

    def evaluation(p: argparse.ArgumentParser) -> None:
        versioned(p)
        p.add_argument("--now", default=None, help="reference time for Recency (ISO 8601)")
        p.add_argument(
            "--sessions",
            action="store_true",
            help="Recency from the event lake's last _session.start (else EffectiveDate)",
        )

    p = add("show", _cmd_show, "print a segment's definition")
    versioned(p)
    p.add_argument("--format", choices=["json", "pinpoint", "sql"], default="json")

    p = add("estimate", _cmd_estimate, "count members, per channel and messageable")
    evaluation(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--funnel", action="store_true", help="how each criterion narrows the count")

    p = add("export", _cmd_export, "write the members to CSV or NDJSON (local or s3://)")
    p.add_argument("dest")
    evaluation(p)
    p.add_argument("--format", choices=["csv", "ndjson"], default=None)
    p.add_argument("--messageable", action="store_true", help="only ACTIVE, not opted out")

    p = add(
        "save", _cmd_save, "save a segment from a JSON file (engagekit or Pinpoint)", named=False
    )
    p.add_argument("file", type=Path)
    p.add_argument("--name", default=None, help="save under this name instead")
    p.add_argument("--comment", default=None)

    p = add("import", _cmd_import, "save an imported segment from an endpoint file")
    p.add_argument("source", help="CSV or NDJSON file, local or s3://bucket/key")
    p.add_argument("--format", choices=["csv", "json", "ndjson"], default=None)

    add("reimport", _cmd_reimport, "read an imported segment's file again (new version)")
    p = add("copy", _cmd_copy, "copy a segment under a new name")
    p.add_argument("new_name")
    add("delete", _cmd_delete, "delete a segment (pinned versions stay readable)")
