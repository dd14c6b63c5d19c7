"""Campaign runs as jobs: run-due executes each due run exactly once, across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engagekit import campaigns, jobs, segments, templates
from engagekit.delivery import ledger
from engagekit.endpoints import write_endpoints
from engagekit.errors import EngagekitError
from engagekit.project import Project
from engagekit.sample import generate_endpoints

SEND_AT = pd.Timestamp("2026-11-02T09:00:00Z")


def _setup(project: Project, schedule: dict, n: int = 300, name: str = "weekly") -> None:
    write_endpoints(project, generate_endpoints(n, seed=5, as_of=SEND_AT))
    segments.save_segment(project, segments.segment("email").channel("EMAIL").build())
    templates.save_template(
        project, "hello", templates.EmailTemplate(Subject="Hi {{User.UserId}}", TextPart="x")
    )
    campaigns.save_campaign(
        project,
        campaigns.Campaign.parse(
            {
                "Name": name,
                "SegmentId": "email",
                "HoldoutPercent": 10,
                "Treatments": [{"TemplateConfiguration": {"EmailTemplate": {"Name": "hello"}}}],
                "Schedule": schedule,
                "State": "scheduled",
            }
        ),
    )


@pytest.fixture
def job_project(project: Project) -> Project:
    project.update_settings(channels={"email": {"type": "simulator", "sandbox": False}})
    return project


def test_failed_run_is_recorded_and_retried_on_later_ticks_up_to_the_limit(
    job_project: Project,
) -> None:
    _setup(job_project, {"StartTime": SEND_AT.isoformat(), "Frequency": "ONCE"})
    calls = []

    def broken(project: Project, due: jobs.DueRun) -> jobs.JobResult:
        calls.append(due.job_key)
        raise RuntimeError("SMTP server unreachable")

    now = SEND_AT + pd.Timedelta(minutes=5)
    statuses = [
        [r.status for r in jobs.run_due(job_project, now, executor=broken, max_attempts=3)]
        for _ in range(4)
    ]
    assert statuses == [["failed"], ["failed"], ["failed"], ["skipped"]]
    history = jobs.job_history(job_project)
    assert history.loc[0, "attempts"] == 3
    assert "SMTP server unreachable" in history.loc[0, "error"]
    assert len(calls) == 3


def test_nothing_is_due_before_the_start_and_a_once_campaign_runs_once(
    job_project: Project,
) -> None:
    _setup(job_project, {"StartTime": SEND_AT.isoformat(), "Frequency": "ONCE"})
    assert jobs.run_due(job_project, SEND_AT - pd.Timedelta(hours=1),
                        executor=jobs.direct_executor) == []  # fmt: skip
    first = jobs.run_due(job_project, SEND_AT + pd.Timedelta(minutes=1),
                         executor=jobs.direct_executor)  # fmt: skip
    assert [r.status for r in first] == ["completed"]
    again = jobs.run_due(job_project, SEND_AT + pd.Timedelta(minutes=2),
                         executor=jobs.direct_executor)  # fmt: skip
    assert all(r.status == "skipped" for r in again)
    book = ledger(job_project, first[0].due.run_id)
    assert len(book) > 0 and book["endpoint_id"].is_unique


def test_local_time_campaign_runs_one_wave_per_time_zone(job_project: Project) -> None:
    wall = "2026-11-03T09:00:00"
    _setup(job_project, {"StartTime": wall + "Z", "Frequency": "ONCE", "IsLocalTime": True})
    endpoints = generate_endpoints(300, seed=5, as_of=SEND_AT)
    zones = set(endpoints.loc[endpoints["ChannelType"] == "EMAIL", "Demographic.Timezone"])
    done: set[str] = set()
    tick = pd.Timestamp(wall, tz="UTC") - pd.Timedelta(hours=15)
    while tick < pd.Timestamp(wall, tz="UTC") + pd.Timedelta(hours=13):
        for r in jobs.run_due(job_project, tick, executor=jobs.direct_executor):
            assert r.status in ("completed", "skipped")
            if r.status == "completed" and r.due.wave:
                done.add(r.due.wave)
        tick += pd.Timedelta(minutes=30)
    run_id = campaigns.load_plans(job_project, "weekly")["run_id"].iloc[0]
    book = ledger(job_project, run_id)
    plan = campaigns.load_plan(job_project, run_id)
    scheduled = plan[plan["status"] == "scheduled"]
    assert "LOCAL_TIME_PASSED" not in set(plan["reason"].dropna()), "planned before 1st wave"
    assert len(book) == len(scheduled) and book["endpoint_id"].is_unique
    assert len(set(scheduled["due_at"])) == len(done) >= min(len(zones), 5) - 1
    # each endpoint's message went out at 09:00 in its own zone
    sent = book.set_index("endpoint_id")["updated_at"].map(pd.Timestamp)
    due = scheduled.set_index("endpoint_id")["due_at"]
    assert ((sent - due.reindex(sent.index)).dt.total_seconds() >= 0).all()


@pytest.mark.slow
def test_two_run_due_processes_started_together_run_each_run_once(job_project: Project) -> None:
    _setup(job_project, {"StartTime": SEND_AT.isoformat(), "Frequency": "ONCE"})
    cmd = [sys.executable, "-m", "engagekit", "run-due", "--project", str(job_project.path),
           "--now", (SEND_AT + pd.Timedelta(minutes=1)).isoformat()]  # fmt: skip
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-1500:] for o in outs]
    text = "".join(o[0] for o in outs)
    assert text.count(": completed") == 1 and text.count(": skipped") == 1
    history = jobs.job_history(job_project)
    assert len(history) == 1 and history.loc[0, "attempts"] == 1
    run_id = history.loc[0, "run_id"]
    book = ledger(job_project, run_id)
    assert book["endpoint_id"].is_unique and (book["status"] == "sent").all()
    assert Path(history.loc[0, "record_path"]).exists()


@pytest.mark.slow
def test_no_secret_from_the_environment_appears_in_an_executed_run_notebook(
    job_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-Pa55w0rd-do-not-leak"
    monkeypatch.setenv("SMTP_PASSWORD", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret + "-aws")
    _setup(job_project, {"StartTime": SEND_AT.isoformat(), "Frequency": "ONCE"})
    result = jobs.run_campaign(job_project, "weekly", at=SEND_AT)
    assert result.status == "completed"
    text = Path(result.record_path).read_text(encoding="utf-8")
    assert secret not in text
    params = json.loads(text)["metadata"]["papermill"]["parameters"]
    assert set(params) == {"PROJECT_DIR", "CAMPAIGN", "RUN_AT", "NOW", "WAVE", "DRY_RUN"}


def test_a_credential_passed_as_a_notebook_parameter_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from engagekit.notebooks import execute_notebook

    monkeypatch.setenv("WEBHOOK_SECRET", "hmac-key-123456")
    with pytest.raises(EngagekitError, match="credential environment variable"):
        execute_notebook(jobs.RUN_NOTEBOOK, tmp_path / "x.ipynb", {"CAMPAIGN": "hmac-key-123456"})


def test_schedule_list_shows_the_next_occurrences(job_project: Project) -> None:
    _setup(
        job_project,
        {"StartTime": SEND_AT.isoformat(), "EndTime": "2026-12-31T00:00:00Z",
         "Frequency": "DAILY"},
    )  # fmt: skip
    table = jobs.upcoming(job_project, hours=72, now=(SEND_AT + pd.Timedelta(hours=1)).isoformat())
    assert list(table["campaign"]) == ["weekly"] * 3
    assert table["occurrence"].iloc[0] == SEND_AT + pd.Timedelta(days=1)
