"""End to end: one A/B e-mail campaign (2 treatments + holdout) over N generated endpoints.

segment → plan → render → deliver to postfix's smtp-sink on 127.0.0.1 (ledger, MIME, SMTP,
delivery events into the lake) → behaviour events → campaign report HTML. Prints seconds per
stage, messages/s and peak RSS (this process, and the report's kernel).

    python benchmarks/bench_end_to_end.py             # 1M endpoints (target: ≤ 10 min, ≤ 4 GB)
    python benchmarks/bench_end_to_end.py --quick     # 20k endpoints
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pyarrow as pa

from engagekit import campaigns, jobs, segments, templates
from engagekit.delivery import deliver, ledger
from engagekit.demo import CAMPAIGN, SEGMENT, define_campaign, simulate_after_campaign
from engagekit.endpoints import write_endpoints
from engagekit.project import Project
from engagekit.sample import generate_endpoints


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smtp_sink(port: int) -> subprocess.Popen:
    exe = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not Path(exe).exists():
        sys.exit("smtp-sink not found: `make smtp-sink` installs Debian's postfix")
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to run as root
    proc = subprocess.Popen(
        [exe, *user, "-c", f"127.0.0.1:{port}", "2048"], stdout=subprocess.DEVNULL
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    sys.exit("smtp-sink did not start")


class Prerendered:
    """A renderer for deliver() that looks up messages rendered in the render stage."""

    def __init__(self, by_endpoint: pd.DataFrame) -> None:
        self.by_endpoint = by_endpoint

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        found = self.by_endpoint.loc[batch["endpoint_id"].astype(str)]
        return found.set_axis(batch.index)


class RssSampler(threading.Thread):
    """Samples this process's RSS and the whole tree's (kernels, workers) every 0.2 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.peak_self = 0
        self.peak_tree = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                own = self.me.memory_info().rss
                tree = own + sum(c.memory_info().rss for c in self.me.children(recursive=True))
            except psutil.Error:
                continue
            self.peak_self = max(self.peak_self, own)
            self.peak_tree = max(self.peak_tree, tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20k endpoints")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the project folder")
    args = parser.parse_args()
    n = 20_000 if args.quick else args.endpoints

    work = Path(tempfile.mkdtemp(prefix="ek-e2e-"))
    port = free_port()
    sink = smtp_sink(port)
    stages: dict[str, float] = {}
    sampler = RssSampler()
    sampler.start()
    clock = time.perf_counter()
    started = clock

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = now - clock
        clock = now

    try:
        send_at = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(days=28)
        project = Project.create(
            work / "project",
            name="e2e",
            channels={
                "email": {
                    "type": "smtp",
                    "host": "127.0.0.1",
                    "port": port,
                    "from_address": "Bench <bench@example.com>",
                    "connections": args.connections,
                    "sandbox": False,
                }
            },
        )
        endpoints = generate_endpoints(n, seed=1, as_of=send_at)
        write_endpoints(project, endpoints)
        lap("generate + store endpoints (setup)")

        define_campaign(project, send_at)
        seg = segments.load_segment(project, SEGMENT)
        mask = segments.evaluate(seg, endpoints)
        lap("segment")

        campaign = campaigns.load_campaign(project, CAMPAIGN)
        plan = campaigns.plan_campaign(
            campaign, endpoints, send_at, settings=project.settings, audience=mask,
            version=campaigns.campaign_version(project, CAMPAIGN),
        )  # fmt: skip
        campaigns.save_plan(project, plan)
        campaigns.record_run(project, plan)
        lap("plan")

        scheduled = plan[plan["status"] == "scheduled"]
        parts = []
        for (name, version), rows in scheduled.groupby(
            ["template", "template_version"], observed=True
        ):
            template = templates.load_template(project, str(name), int(version))
            parts.append(templates.render_batch(rows, template, endpoints))
        rendered = pd.concat(parts).reindex(scheduled.index)
        lap("render")

        report = deliver(
            project,
            plan,
            now=send_at.to_pydatetime(),
            render=Prerendered(rendered.set_axis(scheduled["endpoint_id"].astype(str))),
            progress=False,
        )
        lap("deliver (MIME + ledger + SMTP + events)")
        run_id = str(plan["run_id"].iloc[0])
        book = ledger(project, run_id)
        if report.failed:
            print("failures:", book.loc[book["status"] == "failed", "error"].value_counts().head(3))

        audience, n_scheduled = len(plan), len(scheduled)
        del endpoints, mask, plan, scheduled, rendered, parts  # the report runs in a kernel
        gc.collect()
        pa.default_memory_pool().release_unused()  # hand Arrow's freed buffers back to the OS
        simulate_after_campaign(project, run_id, send_at, seed=1)
        lap("behaviour events (simulated)")

        html = jobs.render_report(
            "campaign_report", project, {"CAMPAIGN": CAMPAIGN}, out_dir=work / "report"
        )
        lap("campaign report HTML")
    finally:
        sink.terminate()
        sink.wait(timeout=10)

    total = time.perf_counter() - started
    setup = stages["generate + store endpoints (setup)"]
    send_s = stages["deliver (MIME + ledger + SMTP + events)"]
    print(
        f"endpoints: {n:,}   audience: {audience:,}   scheduled: {n_scheduled:,}   "
        f"sent: {report.sent:,}   failed: {report.failed:,}   ledger rows: {len(book):,}"
    )
    print(f"{'stage':45s} {'seconds':>9s}")
    for name, secs in stages.items():
        print(f"{name:45s} {secs:9.2f}")
    print(f"{'total (without setup)':45s} {total - setup:9.2f}")
    rate = report.sent / (stages["render"] + send_s)
    print(f"messages/s, render + deliver: {rate:,.0f}")
    print(
        f"messages/s, deliver alone: {report.sent / send_s:,.0f} ({args.connections} connections)"
    )
    sampler.stop.set()
    print(
        f"peak RSS: {sampler.peak_self / 2**20:,.0f} MB (this process), "
        f"{sampler.peak_tree / 2**20:,.0f} MB (with its children: report kernel, sink), "
        "sampled every 0.2 s"
    )
    print(f"report: {html}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
