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
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
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
    tick: pd.Timestamp | None = field(default=None, compare=False)  # when run-due saw it

    @property
    def run_id(self) -> str:
        """The campaign run this belongs to (``campaigns.default_run_id``'s format)."""
        return f"{self.campaign}-{self.occurrence.tz_convert('UTC'):%Y%m%dT%H%M%SZ}"

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
    record = project.path / "runs" / f"{due.run_id}{_wave_suffix(due)}.ipynb"
    execute_notebook(
        RUN_NOTEBOOK,
        record,
        {
            "PROJECT_DIR": str(project.path.resolve()),
            "CAMPAIGN": due.campaign,
            "RUN_AT": due.occurrence.isoformat(),
            "NOW": (due.tick or pd.Timestamp.now(tz="UTC")).isoformat(),
            "WAVE": due.wave,
            "DRY_RUN": dry_run,
        },
    )
    return JobResult(due, "completed", record_path=record)


def direct_executor(project: Project, due: DueRun) -> JobResult:
    """Execute a due run in this process, without a notebook (for Airflow tasks and tests)."""
    summary = execute_campaign_run(
        project.path, due.campaign, run_at=due.occurrence, now=due.tick, wave=due.wave
    )
    return JobResult(due, "completed", summary=summary.counts)


def _wave_suffix(due: DueRun) -> str:
    return "" if not due.wave else "_" + re.sub(r"[^0-9A-Za-z]+", "", due.wave)


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
        item = replace(item, tick=at) if item.tick is None else item
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


def due_runs(
    project: Project, now: pd.Timestamp, *, lookback: timedelta = timedelta(days=1)
) -> list[DueRun]:
    """Every run due at ``now``: what ``run-due`` executes (each job key at most once).

    * a scheduled occurrence in ``(now - lookback, now]`` whose plan does not exist yet: the
      planning run (plans, saves the plan, sends what is due);
    * for a saved plan, each distinct ``due_at`` of its scheduled rows that has come — the
      local-time waves (one per time zone) and quiet-time releases — as its own wave;
    * an ``IMMEDIATE`` campaign once; an event-triggered campaign on every tick with new events.
    Campaigns that are not ``scheduled`` or ``running`` are skipped.
    """
    from engagekit import campaigns as cmp
    from engagekit.schedules import occurrences, wave_window

    at = _utc(now)
    out: list[DueRun] = []
    for name in project.store.names(cmp.KIND):
        campaign = cmp.load_campaign(project, name)
        if campaign.state not in ("scheduled", "running"):
            continue
        schedule = campaign.schedule
        if schedule.event_triggered:
            out.append(DueRun(name, at.floor("min"), at, wave="events", reason="event trigger"))
            continue
        if schedule.immediate:
            occs = [_first_run_time(project, name) or at]
        else:
            # a local-time occurrence's first wave (UTC+14) comes up to 26 h before its last
            ahead = timedelta(hours=27) if schedule.is_local_time else timedelta(0)
            occs = occurrences(schedule, at - lookback, at + ahead + timedelta(seconds=1))
        for occ in occs:
            due = DueRun(name, occ, wave_window(schedule, occ)[0])
            plan_path = project.store.root / "plans" / f"{due.run_id}.parquet"
            if not plan_path.exists():
                if due.due_at <= at:
                    out.append(due)
                continue
            for wave_at in _open_waves(project, due.run_id, plan_path, at):
                reason = "local-time wave" if schedule.is_local_time else "release"
                out.append(DueRun(name, occ, wave_at, wave=wave_at.isoformat(), reason=reason))
    return out


def _open_waves(
    project: Project, run_id: str, plan_path: Path, now: pd.Timestamp
) -> list[pd.Timestamp]:
    """Due times (≤ now) of scheduled rows not yet handled by delivery: rows with no ledger
    row, or still pending / in flight (a crashed wave is resumed by running it again)."""
    plan = pd.read_parquet(plan_path, columns=["endpoint_id", "status", "due_at"])
    rows = plan[(plan["status"] == "scheduled") & (plan["due_at"] <= now)]
    if rows.empty:
        return []
    book = pd.read_sql_query(
        "SELECT endpoint_id, status FROM ledger WHERE run_id=? AND step='send'",
        project.store.connect(),
        params=(run_id,),
    )
    handled = set(book.loc[~book["status"].isin(["pending", "sending"]), "endpoint_id"])
    open_rows = rows[~rows["endpoint_id"].astype(str).isin(handled)]
    return sorted(pd.to_datetime(open_rows["due_at"].unique(), utc=True))


def _first_run_time(project: Project, campaign: str) -> pd.Timestamp | None:
    row = (
        project.store.connect()
        .execute("SELECT MIN(occurrence) FROM job_runs WHERE campaign=?", (campaign,))
        .fetchone()
    )
    return pd.Timestamp(row[0]) if row and row[0] else None


def upcoming(project: Project, *, hours: float = 48.0, now: str | None = None) -> pd.DataFrame:
    """Runs due in the next ``hours`` (``engagekit schedule list``), plus failed runs to retry."""
    from engagekit import campaigns as cmp
    from engagekit.schedules import occurrences

    at = _utc(now)
    rows = []
    for name in project.store.names(cmp.KIND):
        campaign = cmp.load_campaign(project, name)
        sched = campaign.schedule
        if campaign.state not in ("scheduled", "running") or sched.event_triggered:
            continue
        times = [at] if sched.immediate else occurrences(sched, at, at + timedelta(hours=hours))
        for occ in times:
            rows.append(
                {
                    "campaign": name,
                    "occurrence": occ,
                    "local_time": bool(sched.is_local_time),
                    "state": campaign.state,
                }
            )
    table = pd.DataFrame(rows, columns=["campaign", "occurrence", "local_time", "state"])
    history = job_history(project)
    if not history.empty:
        failed = history[history["status"] == "failed"]
        for _, r in failed.iterrows():
            table.loc[len(table)] = [r["campaign"], pd.Timestamp(r["occurrence"]), False, "retry"]
    return table.sort_values("occurrence", ignore_index=True)


@dataclass
class RunSummary:
    """What one campaign run did: plan counts, exclusions by reason, outcomes per treatment."""

    run_id: str
    campaign: str
    dry_run: bool
    counts: dict[str, int]
    reasons: pd.DataFrame
    outcomes: pd.DataFrame
    previews: pd.DataFrame | None = None

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"value": list(self.counts.values())}, index=list(self.counts))


def execute_campaign_run(
    project_dir: Path | str,
    campaign: str,
    *,
    run_at: str | pd.Timestamp | None = None,
    wave: str = "",
    dry_run: bool = False,
    now: str | pd.Timestamp | None = None,
    progress: bool = False,
) -> RunSummary:
    """Plan a run of a saved campaign and deliver what is due (the run notebook calls this).

    The first execution of an occurrence plans it and saves the plan; later executions (waves,
    releases, resumptions after a crash) reuse the saved plan, so every wave sends from the same
    plan, and the ledger makes each message go out once.
    """
    from engagekit import campaigns as cmp
    from engagekit.delivery import deliver, ledger

    project = Project.open(project_dir)
    at = _utc(now)
    occurrence = _utc(run_at) if run_at else at
    if dry_run:
        dry = cmp.plan_run(project, campaign, at, occurrence=occurrence, dry_run=True)
        plan = dry.plan
        return RunSummary(
            run_id=str(plan["run_id"].iloc[0]) if len(plan) else "",
            campaign=campaign,
            dry_run=True,
            counts=cmp.plan_counts(plan),
            reasons=cmp.reason_counts(plan),
            outcomes=pd.DataFrame(columns=["treatment_id", "status", "messages"]),
            previews=dry.previews,
        )
    run_id = DueRun(campaign, occurrence, occurrence).run_id
    try:
        plan = cmp.load_plan(project, run_id)
    except EngagekitError:
        plan = cmp.plan_run(project, campaign, at, occurrence=occurrence, run_id=run_id)
    report = deliver(project, plan, now=at.to_pydatetime(), progress=progress)
    book = ledger(project, run_id)
    outcomes = (
        book.groupby(["treatment", "status"], observed=True).size().rename("messages").reset_index()
        if len(book)
        else pd.DataFrame(columns=["treatment", "status", "messages"])
    )
    counts = cmp.plan_counts(plan) | {
        "sent": report.sent,
        "failed": report.failed,
        "skipped": report.skipped,
        "deferred": report.deferred,
    }
    return RunSummary(run_id, campaign, False, counts, cmp.reason_counts(plan), outcomes)


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


def run_campaign(
    project: Project,
    campaign: str,
    *,
    at: str | pd.Timestamp | None = None,
    dry_run: bool = False,
    wave: str = "",
) -> JobResult:
    """Execute one run now (``engagekit run``): the notebook is kept as the run's record.

    A manual run is recorded in ``job_runs`` like a scheduled one; running it again is safe
    because delivery's ledger never sends a message twice.
    """
    when = _utc(at)
    due = DueRun(campaign, when, when, wave=wave, reason="manual")
    if not dry_run:
        with project.store.transaction() as conn:
            conn.execute(
                "INSERT INTO job_runs (job_key, campaign, occurrence, wave, due_at, run_id, status,"
                " attempts, claimed_by, claimed_at) VALUES (?,?,?,?,?,?,'running',1,'manual',?)"
                " ON CONFLICT (job_key) DO UPDATE SET status='running', attempts=attempts+1",
                (
                    due.job_key,
                    campaign,
                    when.isoformat(),
                    wave,
                    when.isoformat(),
                    due.run_id,
                    isonow(),
                ),
            )
    try:
        result = run_notebook_executor(project, due, dry_run=dry_run)
    except Exception as exc:
        if not dry_run:
            finish(project, due, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    if not dry_run:
        finish(project, due, result.status, record_path=result.record_path)
    return result
