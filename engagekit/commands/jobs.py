"""``engagekit run``, ``run-due``, ``schedule list`` and ``report``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engagekit import jobs
from engagekit.project import Project


def _project(args: argparse.Namespace) -> Project:
    return Project.open(args.project)


def _cmd_run(args: argparse.Namespace) -> int:
    result = jobs.run_campaign(_project(args), args.campaign, at=args.at, dry_run=args.dry_run)
    print(f"run {result.due.run_id}: {result.status}; record: {result.record_path}")
    for key, value in result.summary.items():
        print(f"  {key}: {value}")
    return 0 if result.status == "completed" else 1


def _cmd_run_due(args: argparse.Namespace) -> int:
    results = jobs.run_due(_project(args), args.now, max_attempts=args.max_attempts)
    if not results:
        print("nothing is due")
    for r in results:
        wave = f" wave {r.due.wave}" if r.due.wave else ""
        err = f" ({r.error})" if r.error else ""
        print(f"{r.due.run_id}{wave}: {r.status} (attempt {r.attempts}){err}")
    return 1 if any(r.status == "failed" for r in results) else 0


def _cmd_schedule_list(args: argparse.Namespace) -> int:
    table = jobs.upcoming(_project(args), hours=args.hours)
    print("nothing scheduled" if table.empty else table.to_string(index=False))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    params: dict[str, object] = {}
    for key, value in args.param or []:
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    path = jobs.render_report(args.name, Path(args.project), params, out_dir=args.out)
    print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="execute one campaign run as a papermill notebook")
    p.add_argument("campaign")
    p.add_argument("--project", "-P", required=True, type=Path)
    p.add_argument("--at", default=None, help="run time, ISO 8601 (default: now)")
    p.add_argument("--dry-run", action="store_true", help="plan and preview, send nothing")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("run-due", help="execute every campaign run due now, exactly once")
    p.add_argument("--project", "-P", required=True, type=Path)
    p.add_argument("--now", default=None, help="treat this ISO 8601 time as now")
    p.add_argument("--max-attempts", type=int, default=jobs.DEFAULT_MAX_ATTEMPTS)
    p.set_defaults(func=_cmd_run_due)

    p = sub.add_parser("schedule", help="what is scheduled")
    ssub = p.add_subparsers(dest="schedule_command", required=True)
    q = ssub.add_parser("list", help="runs due in the next hours")
    q.add_argument("--project", "-P", required=True, type=Path)
    q.add_argument("--hours", type=float, default=48.0)
    q.set_defaults(func=_cmd_schedule_list)

    p = sub.add_parser("report", help="render a report notebook into one HTML file")
    p.add_argument("name", help="report name: campaign_report, engagement_overview")
    p.add_argument("--project", "-P", required=True, type=Path)
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"))
    p.add_argument("--out", type=Path, default=None, help="output folder (default reports/out)")
    p.set_defaults(func=_cmd_report)
