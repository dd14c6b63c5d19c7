"""The demo's main job, end to end on small data: import, A/B campaign as a papermill job,
behaviour with a real effect, and a campaign report that a browser renders with its charts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from browser import colour_count, ink_fraction, screenshot

from engagekit.campaigns import load_plan
from engagekit.delivery import ledger
from engagekit.events import read_events


@pytest.mark.slow
def test_demo_campaign_sends_each_scheduled_message_once_and_never_to_the_holdout(
    demo_project,
) -> None:
    plan = load_plan(demo_project.project, demo_project.run_id)
    book = ledger(demo_project.project, demo_project.run_id)
    scheduled = plan[plan["status"] == "scheduled"]
    assert set(plan["treatment_id"].astype(str)) == {"0", "1", "holdout"}
    assert not plan.loc[plan["holdout"], "status"].eq("scheduled").any()
    assert len(book) == len(scheduled)
    assert book["endpoint_id"].is_unique
    assert set(book["endpoint_id"].astype(str)) == set(scheduled["endpoint_id"].astype(str))
    record = demo_project.project.path / "runs" / f"{demo_project.run_id}.ipynb"
    assert record.exists(), "the executed run notebook is kept as the run's record"


@pytest.mark.slow
def test_demo_behaviour_lands_in_the_lake_with_campaign_attribution(demo_project) -> None:
    events = read_events(demo_project.project)
    types = set(events["event_type"])
    assert {"_campaign.send", "_email.delivered", "_email.open", "_session.start",
            "_monetization.purchase"} <= types  # fmt: skip
    opens = events[events["event_type"] == "_email.open"]
    assert set(opens["treatment_id"].dropna()) <= {"0", "1"}, "holdout users get no e-mail"


@pytest.mark.slow
def test_campaign_report_renders_self_contained_html_with_charts(
    demo_project, tmp_path: Path
) -> None:
    from engagekit.jobs import render_report

    html = render_report("campaign_report", demo_project.project,
                         {"CAMPAIGN": demo_project.campaign}, out_dir=tmp_path)  # fmt: skip
    text = html.read_text(encoding="utf-8")
    assert "Lift against the holdout" in text
    assert "import engagekit" not in text and "stats.analyze(" not in text, "no code in reports"
    assert 'src="http' not in text, "self-contained: nothing loaded from the network"
    assert text.count("data:image/png;base64") >= 3, "charts are embedded"
    for address in ledger(demo_project.project, demo_project.run_id)["address"].head(20):
        assert str(address) not in text, "addresses are hidden unless asked for"
    png = screenshot(html, tmp_path / "report.png")
    assert ink_fraction(png) > 0.03, "the page is not blank"
    assert colour_count(png) > 200, "charts were drawn (many colours), not only text"


@pytest.mark.slow
def test_make_demo_entry_point_prints_the_report_path(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "engagekit.demo", "--dir", str(tmp_path / "d"),
         "--endpoints", "1500"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = Path(out.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert report.exists() and report.suffix == ".html"
    executed = json.loads(report.with_suffix(".ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"]["CAMPAIGN"] == "autumn-reactivation"
