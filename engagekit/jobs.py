"""Unattended runs: campaign runs and reports executed as papermill notebooks.

``engagekit run CAMPAIGN``      executes ``notebooks/run_campaign.ipynb`` for one run and keeps
                                the executed notebook in the project (``runs/<run_id>.ipynb``)
                                as the run's record.
``engagekit run-due``           for cron, a systemd timer or Airflow: finds every run due now
                                (schedule occurrences, local-time waves, quiet-time releases,
                                event triggers) and executes each exactly once.
``engagekit report NAME``       renders a report notebook into one self-contained HTML file.

Exactly once across run-due processes: a due run is *claimed* by inserting its job key into the
``job_runs`` table inside ``BEGIN IMMEDIATE``; a second process finds the row and skips it. A
failed run is retried on later ticks up to ``max_attempts``; a claim whose process died (no
finish after ``lease``) is retried too, which is safe because delivery's ledger never sends a
message twice.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from engagekit.errors import EngagekitError
from engagekit.notebooks import NOTEBOOKS_DIR, REPORTS_DIR, execute_notebook, notebook_to_html
from engagekit.project import Project
from engagekit.store import isonow

RUN_NOTEBOOK = NOTEBOOKS_DIR / "run_campaign.ipynb"
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_LEASE = timedelta(hours=2)


def _utc(ts: str | pd.Timestamp | None) -> pd.Timestamp:
    t = pd.Timestamp.now(tz="UTC") if ts is None or ts == "" else pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


@dataclass(frozen=True)
class DueRun:
    """One run that is due: a campaign occurrence, optionally one local-time wave of it."""

    campaign: str
    occurrence: pd.Timestamp
    due_at: pd.Timestamp
    wave: str = ""
    reason: str = "schedule"  # schedule, local-time wave, quiet-time release, event trigger

    @property
    def run_id(self) -> str:
        return f"{self.campaign}@{self.occurrence.strftime('%Y%m%dT%H%M%SZ')}"

    @property
    def job_key(self) -> str:
        return f"{self.run_id}|{self.wave}"


@dataclass
class JobResult:
    """What happened to one due run on this tick."""

    due: DueRun
    status: str  # completed, failed, skipped (claimed elsewhere or exhausted)
    attempts: int = 0
    error: str | None = None
    record_path: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def claim(
    project: Project,
    due: DueRun,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    lease: timedelta = DEFAULT_LEASE,
    worker: str | None = None,
) -> int | None:
    """Claim a due run for this process; returns the attempt number, or None if not ours."""
    me = worker or f"{socket.gethostname()}:{os.getpid()}"
    now = pd.Timestamp.now(tz="UTC")
    with project.store.transaction() as conn:
        row = conn.execute(
            "SELECT status, attempts, claimed_at FROM job_runs WHERE job_key=?", (due.job_key,)
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO job_runs (job_key, campaign, occurrence, wave, due_at, run_id, "
                "status, attempts, claimed_by, claimed_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    due.job_key,
                    due.campaign,
                    due.occurrence.isoformat(),
                    due.wave,
                    due.due_at.isoformat(),
                    due.run_id,
                    "running",
                    1,
                    me,
                    now.isoformat(),
                ),
            )
            return 1
        stale = row["status"] == "running" and now - pd.Timestamp(row["claimed_at"]) > lease
        retry = row["status"] == "failed" or stale
        if not retry or row["attempts"] >= max_attempts:
            return None
        attempt = int(row["attempts"]) + 1
        conn.execute(
            "UPDATE job_runs SET status='running', attempts=?, claimed_by=?, claimed_at=?, "
            "error=NULL WHERE job_key=?",
            (attempt, me, now.isoformat(), due.job_key),
        )
        return attempt


def finish(
    project: Project,
    due: DueRun,
    status: str,
    *,
    error: str | None = None,
    record_path: Path | None = None,
) -> None:
    with project.store.transaction() as conn:
        conn.execute(
            "UPDATE job_runs SET status=?, error=?, record_path=?, finished_at=? WHERE job_key=?",
            (status, error, str(record_path) if record_path else None, isonow(), due.job_key),
        )


def job_history(project: Project, campaign: str | None = None) -> pd.DataFrame:
    """Every claimed run with its status, attempts and error, newest first."""
    sql = "SELECT * FROM job_runs"
    args: tuple[Any, ...] = ()
    if campaign:
        sql += " WHERE campaign=?"
        args = (campaign,)
    rows = project.store.connect().execute(sql + " ORDER BY due_at DESC", args).fetchall()
    return pd.DataFrame([dict(r) for r in rows])


Executor = Callable[[Project, DueRun], JobResult]


def run_notebook_executor(project: Project, due: DueRun, *, dry_run: bool = False) -> JobResult:
    """Execute the campaign run notebook for one due run, keeping it as the run's record."""
    record = project.path / "runs" / f"{due.run_id.replace('@', '_')}{_wave_suffix(due)}.ipynb"
    execute_notebook(
        RUN_NOTEBOOK,
        record,
        {
            "PROJECT_DIR": str(project.path.resolve()),
            "CAMPAIGN": due.campaign,
            "RUN_AT": due.occurrence.isoformat(),
            "WAVE": due.wave,
            "DRY_RUN": dry_run,
        },
    )
    return JobResult(due, "completed", record_path=record)


def _wave_suffix(due: DueRun) -> str:
    return "" if not due.wave else "_" + due.wave.replace("/", "-")


def run_due(
    project: Project,
    now: str | pd.Timestamp | None = None,
    *,
    executor: Executor = run_notebook_executor,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    due: Iterable[DueRun] | None = None,
) -> list[JobResult]:
    """Execute every run due at ``now`` exactly once across processes (see module docstring)."""
    at = _utc(now)
    results: list[JobResult] = []
    for item in due if due is not None else due_runs(project, at):
        attempt = claim(project, item, max_attempts=max_attempts)
        if attempt is None:
            results.append(JobResult(item, "skipped"))
            continue
        try:
            result = executor(project, item)
        except Exception as exc:  # recorded and retried on the next tick
            finish(project, item, "failed", error=f"{type(exc).__name__}: {exc}")
            results.append(JobResult(item, "failed", attempt, error=str(exc)))
            continue
        result.attempts = attempt
        finish(project, item, result.status, record_path=result.record_path)
        results.append(result)
    return results


def due_runs(project: Project, now: pd.Timestamp, *, lookback: timedelta = timedelta(days=1)):
    """Every (campaign, occurrence, wave) due in ``(now - lookback, now]`` and not yet done."""
    from engagekit import campaigns as _campaigns

    return _campaigns.due_runs(project, now, lookback=lookback)


def render_report(
    name: str,
    project: Project | Path | str,
    parameters: dict[str, Any] | None = None,
    *,
    out_dir: Path | str | None = None,
) -> Path:
    """Render ``reports/<name>.ipynb`` for a project into one self-contained HTML file.

    >>> render_report("campaign_report", "demo-project")  # doctest: +SKIP
    PosixPath('reports/out/campaign_report.html')
    """
    source = REPORTS_DIR / f"{name}.ipynb"
    if not source.exists():
        known = sorted(p.stem for p in REPORTS_DIR.glob("*.ipynb"))
        raise EngagekitError(f"no report named {name!r}; reports: {', '.join(known)}")
    path = project.path if isinstance(project, Project) else Path(project)
    out = Path(out_dir) if out_dir is not None else REPORTS_DIR / "out"
    params = {"PROJECT_DIR": str(path.resolve()), **(parameters or {})}
    executed = execute_notebook(source, out / f"{name}.ipynb", params)
    return notebook_to_html(executed, out / f"{name}.html", title=name.replace("_", " "))
