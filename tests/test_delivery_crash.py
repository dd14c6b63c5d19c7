"""Exactly once across crashes: SIGKILL a delivering process at random moments, rerun, compare
with what the SMTP server received."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from plans import plan_for
from smtp_servers import RecordingHandler, start_server

from engagekit.delivery import deliver, ledger
from engagekit.project import Project


def _plan(n: int) -> pd.DataFrame:
    return plan_for(
        [f"user{i}@example.com" for i in range(n)], run_id="crash-run", campaign="crash"
    )


def _render(batch: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"Subject": "Hi " + batch["user_id"], "TextPart": "Hello", "HtmlPart": "<p>Hello</p>"},
        index=batch.index,
    )


def _child(project_path: Path, n: int) -> None:
    project = Project.open(project_path)
    deliver(project, _plan(n), render=_render, progress=False, batch_size=40, retry_base=0.01)


def _run_child(project: Project, n: int, kill_after: float | None) -> bool:
    """Fork a delivering process; SIGKILL it after ``kill_after`` seconds. True if it ended."""
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(project.path, n))
    proc.start()
    if kill_after is not None:
        time.sleep(kill_after)
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=120)
    if kill_after is None:
        assert proc.exitcode == 0
    return proc.exitcode == 0


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", [True, False], ids=["checkpoint-server", "plain-server"])
def test_sigkill_at_random_moments_then_rerun_sends_every_message_once(
    project: Project, checkpoint: bool
) -> None:
    n = 4000 if checkpoint else 1500
    trials = 10 if checkpoint else 4
    # the checkpointing server also pipelines: the fast path (one round trip per message)
    handler = RecordingHandler(checkpoint=checkpoint, pipelining=checkpoint)
    rng = random.Random(20261127 + checkpoint)
    with start_server(handler) as server:
        project.update_settings(channels={"mail": server.settings(connections=2)})
        kills = 0
        for _ in range(trials):
            if not _run_child(project, n, kill_after=rng.uniform(0.02, 0.4)):
                kills += 1
        _run_child(project, n, kill_after=None)  # the final, uninterrupted resume
        received = Counter(handler.message_ids())

    assert kills >= trials // 2, "the child finished before most kills: make the plan larger"
    planned = {f"<crash-run.ep-{i}.send@acme.test>" for i in range(n)}
    missing = planned - set(received)
    duplicates = {mid: c for mid, c in received.items() if c > 1}
    rows = ledger(project, "crash-run")
    assert missing == set()
    assert (rows["status"] == "sent").all()
    in_doubt = int(rows["error"].fillna("").str.contains("in-doubt").sum())
    if checkpoint:
        # the server recognises a repeated TRANSID: strictly exactly once
        assert duplicates == {}
        assert handler.duplicates_ignored <= in_doubt
    else:
        # a plain server cannot tell: only in-doubt rows (at most one per connection per
        # kill) may arrive twice, and the ledger names them
        assert sum(c - 1 for c in duplicates.values()) <= in_doubt <= 2 * kills
        flagged = set(rows.loc[rows["error"].fillna("").str.contains("in-doubt"), "message_id"])
        assert set(duplicates) <= flagged

    from engagekit.events import read_events

    events = read_events(project)
    sends = events[events["event_type"] == "_email.send"]
    assert sends["endpoint_id"].nunique() == n
    assert len(sends) == n


def _dead_worker_rows(project: Project, n: int, journal_lines: list[str]) -> None:
    """Leave rows as a SIGKILLed worker would: claimed, with a journal, lock free."""
    from engagekit.delivery import _ledger as L

    plan = _plan(n)
    deliver(project, plan.iloc[:0], render=_render, progress=False)  # no-op, migrates
    rows = [
        ("crash-run", f"ep-{i}", "send", "crash", "0", "mail", f"user{i}@example.com",
         f"u-{i}", "EMAIL", f"k{i}", i, None)
        for i in range(n)
    ]  # fmt: skip
    L.reserve(project.store, rows)
    owner = "deadhost:1:cafe"
    with project.store.transaction() as conn:
        conn.execute(
            "UPDATE ledger SET status='sending', owner=?, claimed_at='2026-01-01T00:00:00',"
            " attempts=1",
            (owner,),
        )
    folder = project.store.root / "delivery"
    folder.mkdir(exist_ok=True)
    (folder / "deadhost_1_cafe.lock").touch()
    rowid = {
        r["endpoint_id"]: r["rowid"]
        for r in project.store.connect().execute("SELECT rowid, endpoint_id FROM ledger")
    }
    text = "".join(line.format(**{f"r{i}": rowid[f"ep-{i}"] for i in range(n)}) + "\n"
                   for line in journal_lines)  # fmt: skip
    (folder / "deadhost_1_cafe.journal").write_text(text)


@pytest.mark.parametrize("policy", ["resend", "fail"])
def test_recovery_reads_the_dead_workers_journal(project: Project, policy: str) -> None:
    # ep-0 answered, ep-1 failed permanently, ep-2 handed over without answer (in doubt),
    # ep-3 never begun, ep-4 answered "retry"; plus a torn last line
    _dead_worker_rows(
        project,
        5,
        [
            "B\t{r0}", "D\t{r0}\tsent\t<m0@acme.test>\tdelivered\t\t",
            "B\t{r1}", "D\t{r1}\tfailed\t\thardbounce\tSMTP_550\tuser unknown",
            "B\t{r2}",
            "B\t{r4}", "D\t{r4}\tretry\t\t\tSMTP_451\tgreylisted",
            "D\t{r3}",
        ],
    )  # fmt: skip
    project.update_settings(channels={"mail": {"type": "simulator"}})
    report = deliver(project, _plan(5), render=_render, progress=False, in_doubt=policy)
    rows = ledger(project, "crash-run").set_index("endpoint_id")
    assert report.recovered == 2 and report.in_doubt == 1
    assert rows.loc["ep-0", "message_id"] == "<m0@acme.test>"
    assert rows.loc["ep-1", "outcome"] == "hardbounce"
    assert (rows.loc["ep-0", "attempts"], rows.loc["ep-3", "status"]) == (1, "sent")
    assert rows.loc["ep-4", "status"] == "sent"
    if policy == "resend":
        assert rows.loc["ep-2", "status"] == "sent"
        assert "in-doubt" in rows.loc["ep-2", "error"]
        assert report.sent == 3
    else:
        assert (rows.loc["ep-2", "status"], rows.loc["ep-2", "error_code"]) == (
            "failed", "IN_DOUBT")  # fmt: skip
        assert report.sent == 2
    assert not (project.store.root / "delivery" / "deadhost_1_cafe.journal").exists()


def test_rows_of_a_live_worker_are_left_alone(project: Project) -> None:
    import fcntl

    _dead_worker_rows(project, 2, [])
    project.update_settings(channels={"mail": {"type": "simulator"}})
    lock = project.store.root / "delivery" / "deadhost_1_cafe.lock"
    with open(lock) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # the owner is alive
        report = deliver(project, _plan(2), render=_render, progress=False)
    assert (report.sent, report.recovered, report.deferred) == (0, 0, 2)
    report = deliver(project, _plan(2), render=_render, progress=False)
    assert report.sent == 2


@pytest.mark.parametrize("pipelining", [False, True])
@pytest.mark.parametrize("checkpoint", [True, False])
def test_reply_lost_after_acceptance_is_resent_with_the_same_message_id(
    project: Project, checkpoint: bool, pipelining: bool
) -> None:
    handler = RecordingHandler(
        checkpoint=checkpoint, lose_reply_rate=0.3, seed=3, pipelining=pipelining
    )
    with start_server(handler) as server:
        project.update_settings(channels={"mail": server.settings()})
        report = deliver(project, _plan(30), render=_render, progress=False, retry_base=0.001,
                         max_attempts=10)  # fmt: skip
    received = Counter(handler.message_ids())
    assert report.sent == 30 and report.in_doubt > 0
    assert len(received) == 30
    if checkpoint:
        assert max(received.values()) == 1
        assert handler.duplicates_ignored == report.in_doubt
    else:
        assert sum(received.values()) == 30 + report.in_doubt


def test_lost_reply_with_in_doubt_fail_is_recorded_not_resent(project: Project) -> None:
    handler = RecordingHandler(lose_reply_rate=0.3, seed=5)
    with start_server(handler) as server:
        project.update_settings(channels={"mail": server.settings()})
        report = deliver(project, _plan(20), render=_render, progress=False, retry_base=0.001,
                         in_doubt="fail")  # fmt: skip
    rows = ledger(project, "crash-run")
    doubtful = rows[rows["error_code"] == "IN_DOUBT"]
    assert len(doubtful) == report.failed > 0
    received = Counter(handler.message_ids())
    assert max(received.values()) == 1  # at most once
    assert set(doubtful["endpoint_id"]) <= {f"ep-{i}" for i in range(20)}
