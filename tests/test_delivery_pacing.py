"""Pacing, shared by every delivering process: never above the configured rates."""

from __future__ import annotations

import bisect
import itertools
import multiprocessing
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from plans import plan_for, render
from smtp_servers import RecordingHandler, start_server

from engagekit.delivery import deliver, ledger
from engagekit.delivery._pacing import Bucket, Pacer, chunk_size
from engagekit.project import Project


def plan_of(n: int, run_id: str, campaign: str = "pace") -> pd.DataFrame:
    addresses = [f"{run_id}-{i}@example.com" for i in range(n)]
    return plan_for(addresses, run_id=run_id, campaign=campaign, endpoint_prefix=f"{run_id}-ep-")


def span(times: list[float]) -> float:
    """Seconds from the second to the last message (the first one also waits for a connection)."""
    ts = sorted(times)
    return ts[-1] - ts[1]


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most events inside any half-open window [t, t + width)."""
    ts = sorted(times)
    return max(bisect.bisect_left(ts, t + width) - i for i, t in enumerate(ts))


def _deliver_in_child(path: Path, n: int, run_id: str, campaign: str, mps: float | None) -> None:
    deliver(
        Project.open(path), plan_of(n, run_id, campaign), render=render, progress=False,
        messages_per_second=mps, batch_size=10,
    )  # fmt: skip


def _processes(*targets: tuple) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_deliver_in_child, args=args) for args in targets]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0


def test_chunk_size_is_one_below_fifty_per_second() -> None:
    assert chunk_size(20, 500) == 1
    assert chunk_size(200, 500) == 4
    assert chunk_size(0, 500) == 500


def test_reservations_of_one_bucket_are_spaced_by_the_rate(project: Project) -> None:
    pacer = Pacer(project.store, [Bucket("campaign:x", 100.0)])
    starts = [pacer.reserve(1) for _ in range(50)]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.01 - 1e-6  # float seconds since the epoch


def test_campaign_rate_is_never_exceeded(project: Project) -> None:
    handler = RecordingHandler()
    with start_server(handler) as server:
        project.update_settings(channels={"mail": server.settings()})
        report = deliver(
            project, plan_of(30, "r1"), render=render, progress=False, messages_per_second=20
        )
    times = [m.at for m in handler.messages]
    assert report.sent == 30
    assert span(times) >= (30 - 2) / 20 - 0.05
    assert max_in_window(times) <= 20 + 1  # +1: server-side timestamps jitter by a message


def test_two_processes_share_the_campaign_rate(project: Project) -> None:
    handler = RecordingHandler()
    with start_server(handler) as server:
        project.update_settings(channels={"mail": server.settings()})
        # the same plan delivered by two processes at once: they split it and the pace
        _processes(
            (project.path, 40, "shared", "pace", 20.0), (project.path, 40, "shared", "pace", 20.0)
        )
    times = [m.at for m in handler.messages]
    assert sorted(Counter(m.message_id for m in handler.messages).values()) == [1] * 40
    assert span(times) >= (40 - 2) / 20 - 0.05
    assert max_in_window(times) <= 20 + 2  # one late message per process (receiver-side jitter)
    assert (ledger(project)["status"] == "sent").all()


def test_two_campaigns_in_two_processes_share_the_channel_rate(project: Project) -> None:
    handler = RecordingHandler()
    with start_server(handler) as server:
        project.update_settings(channels={"mail": server.settings(max_send_rate=25)})
        _processes((project.path, 25, "a", "camp-a", None), (project.path, 25, "b", "camp-b", None))
    times = [m.at for m in handler.messages]
    assert len(times) == 50
    assert span(times) >= (50 - 2) / 25 - 0.05
    assert max_in_window(times) <= 25 + 2


def test_sandbox_paces_at_one_message_per_second(project: Project) -> None:
    handler = RecordingHandler()
    with start_server(handler) as server:
        settings = server.settings(verified_identities=["example.com"])
        settings.pop("sandbox")
        project.update_settings(channels={"mail": settings})
        deliver(project, plan_of(3, "sb"), render=render, progress=False)
    times = sorted(m.at for m in handler.messages)
    assert len(times) == 3 and span(times) >= 1 - 0.05


@pytest.mark.slow
def test_workers_option_splits_the_plan_across_processes(project: Project) -> None:
    report = deliver(
        project, plan_of(300, "w"), render=render, progress=False, workers=2, batch_size=20
    )
    assert report.sent == 300 and report.deferred == 0
    rows = ledger(project, "w")
    assert rows["endpoint_id"].is_unique and (rows["status"] == "sent").all()
