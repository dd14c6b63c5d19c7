"""``make demo``: the main job on generated data, ending in an HTML campaign report.

1. create a project and import generated endpoints from a Pinpoint CSV file (bad rows rejected);
2. save a segment (active, reachable e-mail endpoints) and two e-mail templates;
3. save and launch an A/B campaign — two treatments and a 20 % holdout — and run it as a
   papermill job (``notebooks/run_campaign.ipynb``) through the ``simulator`` channel, which
   behaves like SES's mailbox simulator (bounces and complaints included);
4. simulate the recipients' behaviour over the following four weeks with
   :mod:`engagekit.simulate` (a documented model with a real treatment effect) and a two-week
   pre-period (the covariate for CUPED), into the event lake;
5. render the campaign report (``reports/campaign_report.ipynb``) to one HTML file.

The campaign runs 28 days before ``--as-of`` (default: now), so the four weeks of behaviour
end at about "now".
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from engagekit.project import Project

if TYPE_CHECKING:
    from engagekit.campaigns import Campaign

CAMPAIGN = "autumn-reactivation"
SEGMENT = "reachable-email"

SUBJECT_A = "{{capitalize User.UserAttributes.FirstName}}, your {{Attributes.plan}} plan has news"
SUBJECT_B = "{{capitalize User.UserAttributes.FirstName}}, 20% off ends Sunday"
HTML = """<html><body>
<h1>Hello {{capitalize User.UserAttributes.FirstName}}!</h1>
<p>You have visited {{Metrics.visits}} times. {{#if (gt Metrics.purchases 2)}}Thank you for being a
regular.{{else}}We would love to see you again.{{/if}}</p>
<p>Picked for you in {{Location.City}}: {{#each Attributes.interests}}{{this}} {{/each}}</p>
<p><a href="https://shop.example.com/?u={{User.UserId}}">{{CALL_TO_ACTION}}</a></p>
</body></html>"""
TEXT = (
    "Hello {{capitalize User.UserAttributes.FirstName}}! {{CALL_TO_ACTION}}: "
    "https://shop.example.com/?u={{User.UserId}}"
)


@dataclass
class DemoResult:
    """What the demo made, for the caller (and the tests) to look at."""

    project: Project
    campaign: str
    run_id: str
    report: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=dict)


#: the demo's two messages: (template name, subject, call to action)
MESSAGES = (
    ("reactivation-news", SUBJECT_A, "See what is new"),
    ("reactivation-discount", SUBJECT_B, "Take 20% off"),
)


def define_campaign(project: Project, send_at: pd.Timestamp) -> Campaign:
    """Save the demo's segment, its two e-mail templates and the A/B campaign (scheduled once
    at ``send_at``, 40 % / 40 % / 20 % holdout); returns the campaign."""
    from engagekit import campaigns, segments, templates

    seg = segments.segment(SEGMENT).channel("EMAIL").metric("visits", "GREATER_THAN", 0).build()
    segments.save_segment(project, seg)
    treatments = []
    for name, subject, cta in MESSAGES:
        defaults = json.dumps({"CALL_TO_ACTION": cta})
        template = templates.EmailTemplate(
            subject=subject, html_part=HTML, text_part=TEXT, default_substitutions=defaults
        )
        templates.save_template(project, name, template)
        treatments.append(
            {
                "TreatmentName": name.removeprefix("reactivation-"),
                "SizePercent": 40,
                "TemplateConfiguration": {"EmailTemplate": {"Name": name}},
            }
        )
    campaign = campaigns.Campaign.parse(
        {
            "Name": CAMPAIGN,
            "Description": "Win back quiet customers: news vs a discount, 20% held out",
            "SegmentId": SEGMENT,
            "Channel": "EMAIL",
            "HoldoutPercent": 20,
            "Treatments": treatments,
            "Schedule": {"StartTime": send_at.isoformat(), "Frequency": "ONCE"},
            "State": "scheduled",
        }
    )
    campaigns.save_campaign(project, campaign)
    return campaign


def build_demo(
    directory: Path | str,
    *,
    endpoints: int = 20_000,
    seed: int = 42,
    as_of: str | pd.Timestamp | None = None,
    report: bool = True,
    report_dir: Path | str | None = None,
    progress: bool = True,
    say=print,
) -> DemoResult:
    """Build the demo project in ``directory`` (replacing it) and run the whole job."""
    from engagekit import jobs
    from engagekit.endpoints import export_endpoints, import_endpoints
    from engagekit.sample import generate_endpoints

    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    now = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC").floor("h")
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    send_at = now - pd.Timedelta(days=28)
    root = Path(directory)
    if root.exists():
        shutil.rmtree(root)
    project = Project.create(
        root,
        name="demo",
        default_timezone="UTC",
        channels={"email": {"type": "simulator", "sandbox": False}},
    )

    # 1. endpoints, through Pinpoint's CSV import
    frame = generate_endpoints(endpoints, seed=seed, as_of=send_at)
    incoming = root / "incoming" / "endpoints.csv"
    incoming.parent.mkdir(parents=True, exist_ok=True)
    export_endpoints(frame, incoming)
    imported = import_endpoints(project, incoming, progress=progress)
    say(f"imported endpoints: {imported}")
    lap("import")

    # 2. segment, two templates, and the A/B campaign with a holdout
    define_campaign(project, send_at)
    lap("definitions")

    # 3. run it as a papermill job through the simulator
    due = jobs.run_due(project, send_at + pd.Timedelta(minutes=1))
    failed = [r for r in due if r.status != "completed"]
    if not due or failed:
        raise RuntimeError(f"the campaign run did not complete: {failed or 'nothing was due'}")
    run_id = due[0].due.run_id
    say(f"campaign run {run_id}: executed notebook kept at {due[0].record_path}")
    lap("campaign run")

    # 4. four weeks of behaviour after the send, two weeks before it (CUPED's covariate)
    summary = simulate_after_campaign(project, run_id, send_at, seed=seed)
    say(f"simulated {summary['events']:,} behaviour events in the lake")
    lap("behaviour")

    # 5. the report
    path = None
    if report:
        path = jobs.render_report(
            "campaign_report", project, {"CAMPAIGN": CAMPAIGN}, out_dir=report_dir
        )
        lap("report")
    return DemoResult(project, CAMPAIGN, run_id, path, timings, summary)


def simulate_after_campaign(
    project: Project,
    run_id: str,
    send_at: pd.Timestamp,
    *,
    seed: int = 0,
    days: int = 28,
    chunk_users: int = 100_000,
) -> dict[str, int]:
    """Draw behaviour for a run's allocation (holdout included) and append it to the lake."""
    from engagekit import campaigns
    from engagekit.delivery import ledger
    from engagekit.endpoints import read_endpoints
    from engagekit.events import append_events
    from engagekit.simulate import BehaviourModel, simulate_behaviour

    plan = campaigns.load_plan(project, run_id)
    alloc = plan.loc[:, ["user_id", "endpoint_id", "treatment_id", "campaign", "run_id"]]
    alloc = alloc.astype("string")
    zones = read_endpoints(project, columns=["Id", "Demographic.Timezone"])
    zone_of = zones.set_index("Id")["Demographic.Timezone"].astype("string")
    alloc["timezone"] = alloc["endpoint_id"].map(zone_of).fillna(project.settings.default_timezone)
    book = ledger(project, run_id)
    delivered = set(book.loc[book["status"] == "sent", "endpoint_id"].astype(str))
    alloc["delivered"] = alloc["endpoint_id"].isin(delivered)
    model = BehaviourModel()
    accepted = 0
    # in chunks of users, so memory stays flat however large the audience
    users = alloc["user_id"].fillna(alloc["endpoint_id"])
    chunk_of = pd.Series(pd.factorize(users)[0] // chunk_users, index=alloc.index)
    for chunk, part in alloc.groupby(chunk_of, sort=True):
        pre = simulate_behaviour(
            part.assign(delivered=False), model, start=send_at - pd.Timedelta(days=14),
            days=14, seed=seed + 1 + 2 * int(chunk),
        )  # fmt: skip
        pre = pre[~pre["event_type"].str.startswith("_email")]
        post = simulate_behaviour(part, model, start=send_at, days=days,
                                  seed=seed + 2 + 2 * int(chunk))  # fmt: skip
        report = append_events(project, pd.concat([pre, post], ignore_index=True))
        accepted += int(report.accepted)
    return {"events": accepted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engagekit.demo", description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("demo-project"))
    parser.add_argument("--endpoints", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = build_demo(args.dir, endpoints=args.endpoints, seed=args.seed)
    print("stages (s): " + ", ".join(f"{k} {v}" for k, v in result.timings.items()))
    print(f"done in {time.perf_counter() - started:.1f} s")
    print(f"campaign report: {result.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
