"""``engagekit campaigns list|show|save|plan|launch|pause|resume|copy|delete|history``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from engagekit import campaigns as cp
from engagekit.errors import DefinitionError
from engagekit.project import Project


def _project(args: argparse.Namespace) -> Project:
    return Project.open(args.project)


def _cmd_list(args: argparse.Namespace) -> int:
    table = cp.list_campaigns(_project(args), include_deleted=args.all)
    print("no campaigns" if table.empty else table.to_string(index=False))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    campaign = cp.load_campaign(_project(args), args.name, args.version)
    doc = campaign.to_pinpoint() if args.pinpoint else campaign.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )  # fmt: skip
    print(json.dumps(doc, indent=2, sort_keys=False))
    return 0


def _cmd_save(args: argparse.Namespace) -> int:
    project = _project(args)
    try:
        body = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DefinitionError(f"cannot read {args.file}: {exc}", kind="campaign") from None
    is_pinpoint = "Treatments" not in body and ("SegmentId" in body and "Name" in body)
    campaign = cp.Campaign.from_pinpoint(body) if is_pinpoint else cp.Campaign.parse(body)
    version = cp.save_campaign(project, campaign)
    print(f"saved campaign {campaign.name!r} version {version}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    project = _project(args)
    result = cp.plan_run(
        project, args.name, args.at, dry_run=args.dry_run, occurrence=args.occurrence,
        sample=args.sample,
    )  # fmt: skip
    if isinstance(result, cp.DryRun):
        plan = result.plan
        print(f"dry run of {args.name!r}: {len(plan):,} audience endpoints (nothing saved)")
        print(result.counts.to_string())
        if result.srm is not None:
            print(result.srm)
        if not result.previews.empty:
            with pd.option_context("display.max_colwidth", 60, "display.width", 160):
                print(result.previews.to_string(index=False))
        return 0
    info = result.attrs.get("plan", {})
    print(f"planned run {info.get('run_id')} for {info.get('occurrence')}")
    print(cp.reason_counts(result).to_string())
    return 0


def _state_command(action: str):
    def run(args: argparse.Namespace) -> int:
        project = _project(args)
        if action == "delete":
            cp.delete(project, args.name)
            print(f"deleted campaign {args.name!r}")
            return 0
        campaign = getattr(cp, action)(project, args.name)
        print(f"campaign {args.name!r} is {campaign.state}")
        return 0

    return run


def _cmd_copy(args: argparse.Namespace) -> int:
    copy = cp.copy_campaign(_project(args), args.name, args.new_name)
    print(f"copied to {copy.name!r} (draft, new allocation)")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    runs = cp.run_history(_project(args), args.name)
    if runs.empty:
        print("no runs")
        return 0
    cols = ["run_id", "campaign_version", "kind", "scheduled_for", "status", "started_at"]
    print(runs[cols].to_string(index=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("campaigns", help="list, inspect, plan and manage campaigns")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name: str, help_: str, func, *, named: bool = True) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_)
        if named:
            a.add_argument("name", help="campaign name")
        a.add_argument("--project", "-P", required=True, type=Path, help="project folder")
        a.set_defaults(func=func)
        return a

    a = add("list", "campaigns with state, channel, treatments and holdout", _cmd_list,
            named=False)  # fmt: skip
    a.add_argument("--all", action="store_true", help="include deleted campaigns")
    a = add("show", "a campaign's definition as JSON", _cmd_show)
    a.add_argument("--version", type=int, default=None)
    a.add_argument("--pinpoint", action="store_true", help="as Pinpoint's WriteCampaignRequest")
    a = add("save", "save a campaign from a JSON file (engagekit or Pinpoint shape)", _cmd_save,
            named=False)  # fmt: skip
    a.add_argument("file", type=Path)
    a = add("plan", "plan the run due now (or --at); --dry-run previews without saving", _cmd_plan)
    a.add_argument("--at", default=None, help="planning time, ISO 8601 (default: now)")
    a.add_argument("--occurrence", default=None, help="the scheduled run to plan, ISO 8601")
    a.add_argument("--dry-run", action="store_true", help="counts and previews, save nothing")
    a.add_argument("--sample", type=int, default=3, help="previews per treatment (dry run)")
    add("launch", "draft -> scheduled", _state_command("launch"))
    add("pause", "stop planning runs until resumed", _state_command("pause"))
    add("resume", "paused -> scheduled", _state_command("resume"))
    add("delete", "delete (plans and runs stay readable)", _state_command("delete"))
    a = add("copy", "copy as a new draft (new allocation salt)", _cmd_copy)
    a.add_argument("new_name")
    add("history", "the campaign's runs", _cmd_history)
