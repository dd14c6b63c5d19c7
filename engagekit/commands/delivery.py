"""``engagekit deliver``, ``engagekit ledger``, ``engagekit channels`` and ``engagekit consent``.

engagekit deliver RUN_ID -P acme --workers 2          # send (or resume) a planned run
engagekit ledger -P acme --run RUN_ID                  # outcome counts of a run
engagekit channels -P acme                             # registered types, configured channels
engagekit consent inbound-sms -P acme --from +14155550101 --body STOP
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from engagekit import channels as registry
from engagekit import consent
from engagekit.errors import DeliveryError
from engagekit.project import Project


def _project(args: argparse.Namespace) -> Project:
    return Project.open(args.project)


def _load_plan(project: Project, args: argparse.Namespace) -> pd.DataFrame:
    if args.plan:
        path = Path(args.plan)
        if not path.exists():
            raise DeliveryError(f"plan file {path} does not exist")
        return pd.read_parquet(path)
    try:
        from engagekit.campaigns import load_plan
    except ImportError as exc:  # pragma: no cover - campaigns ships with engagekit
        raise DeliveryError("engagekit.campaigns is unavailable; pass --plan FILE") from exc
    return load_plan(project, args.run_id)


def _cmd_deliver(args: argparse.Namespace) -> int:
    from engagekit.delivery import deliver

    project = _project(args)
    plan = _load_plan(project, args)
    report = deliver(
        project, plan, channel=args.channel, workers=args.workers,
        messages_per_second=args.rate, progress=not args.quiet, in_doubt=args.in_doubt,
    )  # fmt: skip
    print(report.to_frame().to_string(header=False))
    for reason, count in report.deferred_reasons.items():
        print(f"deferred {count:,} ({reason})")
    if report.next_capacity_at is not None:
        print(f"24-hour quota frees up from {report.next_capacity_at.isoformat()}")
    return 0 if report.failed == 0 else 3


def _cmd_ledger(args: argparse.Namespace) -> int:
    from engagekit.delivery import ledger

    rows = ledger(_project(args), args.run)
    if rows.empty:
        print("the ledger is empty" if args.run is None else f"no ledger rows for {args.run!r}")
        return 0
    counts = rows.groupby(["run_id", "channel", "status"], dropna=False).size()
    print(counts.rename("rows").to_string())
    failed = rows[rows["status"] == "failed"]
    if not failed.empty:
        print("\nfailures by code:")
        print(failed["error_code"].fillna("-").value_counts().to_string())
    return 0


def _cmd_channels(args: argparse.Namespace) -> int:
    print("registered channel types:", ", ".join(registry.names()))
    if args.project:
        project = _project(args)
        for name, settings in project.settings.channels.items():
            ch = registry.open_channel(project, name)
            print(
                f"{name}: type={settings.get('type', name)} sandbox={ch.sandbox} "
                f"max_send_rate={ch.max_send_rate or 'unlimited'} "
                f"max_24_hour_send={ch.max_24_hour_send or 'unlimited'}"
            )
    return 0


def _cmd_inbound_sms(args: argparse.Namespace) -> int:
    opted = consent.handle_inbound_sms(
        _project(args), {"originationNumber": args.sender, "messageBody": args.body}
    )
    print(f"{args.sender}: {'opted out' if opted else 'not an opt-out keyword'}")
    return 0


def _cmd_unsubscribe(args: argparse.Namespace) -> int:
    addresses = consent.handle_unsubscribe(_project(args), args.token)
    print("opted out:", ", ".join(addresses))
    return 0


def _cmd_suppress(args: argparse.Namespace) -> int:
    added = consent.suppress(_project(args), args.address, args.reason, "cli")
    print(f"{added} address(es) added to the suppression list")
    return 0


def _cmd_unsuppress(args: argparse.Namespace) -> int:
    project = _project(args)
    removed = sum(consent.unsuppress(project, a) for a in args.address)
    print(f"{removed} address(es) removed from the suppression list")
    return 0


def _cmd_suppressed(args: argparse.Namespace) -> int:
    table = consent.suppression_list(_project(args))
    print("the suppression list is empty" if table.empty else table.to_string(index=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deliver", help="send (or resume) a planned run through its channel")
    p.add_argument("run_id", help="the run to deliver (its plan is in store/plans/)")
    p.add_argument("--project", "-P", required=True, type=Path, help="project folder")
    p.add_argument("--plan", default=None, help="a plan Parquet file instead of the saved plan")
    p.add_argument("--channel", default=None, help="configured channel name (default: by type)")
    p.add_argument("--workers", type=int, default=1, help="delivering processes (default 1)")
    p.add_argument("--rate", type=float, default=None, help="MessagesPerSecond for this run")
    p.add_argument("--in-doubt", choices=["resend", "fail"], default="resend",
                   help="what to do with messages whose outcome a crash left unknown")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_deliver)

    p = sub.add_parser("ledger", help="delivery ledger: outcome counts per run and channel")
    p.add_argument("--project", "-P", required=True, type=Path, help="project folder")
    p.add_argument("--run", default=None, help="only this run")
    p.set_defaults(func=_cmd_ledger)

    p = sub.add_parser("channels", help="registered channel types and configured channels")
    p.add_argument("--project", "-P", default=None, type=Path, help="project folder")
    p.set_defaults(func=_cmd_channels)

    p = sub.add_parser("consent", help="opt-outs, unsubscribes and the suppression list")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name: str, help_: str, func) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_)
        a.add_argument("--project", "-P", required=True, type=Path, help="project folder")
        a.set_defaults(func=func)
        return a

    a = add("inbound-sms", "process an inbound SMS (opt-out keywords)", _cmd_inbound_sms)
    a.add_argument("--from", dest="sender", required=True, help="sender's E.164 number")
    a.add_argument("--body", required=True, help="message text")
    a = add("unsubscribe", "process an unsubscribe token (from List-Unsubscribe)", _cmd_unsubscribe)
    a.add_argument("token")
    a = add("suppress", "add addresses to the suppression list", _cmd_suppress)
    a.add_argument("address", nargs="+")
    a.add_argument("--reason", default="MANUAL", choices=list(consent.REASONS))
    a = add("unsuppress", "remove addresses from the suppression list", _cmd_unsuppress)
    a.add_argument("address", nargs="+")
    add("list", "show the suppression list", _cmd_suppressed)
