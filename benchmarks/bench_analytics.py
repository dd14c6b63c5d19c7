"""Benchmark: analytics over a generated event lake — DAU/MAU series, 7-day retention cohorts, a
4-step funnel and campaign metrics per treatment — in DuckDB over the Parquet lake, next to
pandas computing the same numbers on a subset that fits in memory (ratio on the same data).

    .venv/bin/python benchmarks/bench_analytics.py            # 50M events (~2 GB Parquet)
    .venv/bin/python benchmarks/bench_analytics.py --quick    # 500k events over 7 days

The lake is generated once (vectorized, one day at a time through ``append_events``) into
``benchmarks/out/analytics_<n>/`` and reused. Every measurement runs in a fresh subprocess, so
its peak RSS (``ru_maxrss``) is its own. Target: each query <= 10 s on 2 cores, peak RSS <= 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "out"
START = "2026-10-01"
DAYS = 30  # --days (7 with --quick); the campaign is sent in the middle of the window
STEPS = ["view_item", "add_to_cart", "checkout_start", "_monetization.purchase"]
QUERIES = ("usage", "retention", "funnel", "campaign")


def project_dir(n: int) -> Path:
    return OUT / (f"analytics_{n}" if DAYS == 30 else f"analytics_{n}_{DAYS}d")


def generate(n: int) -> None:
    """Build the benchmark project (endpoints, events, one A/B campaign) unless it exists."""
    from engagekit.campaigns import save_plan
    from engagekit.endpoints import write_endpoints
    from engagekit.events import (
        append_events,
        generate_campaign_events,
        generate_plan,
        iter_events,
    )
    from engagekit.project import Project
    from engagekit.sample import generate_endpoints

    root = project_dir(n)
    if (root / "COMPLETE").exists():
        return
    if root.exists():
        import shutil

        shutil.rmtree(root)
    t0 = time.perf_counter()
    project = Project.create(root, name=f"bench-{n}")
    n_endpoints = max(2_000, n // 60)
    endpoints = generate_endpoints(n_endpoints, seed=7)
    write_endpoints(project, endpoints)
    written = 0
    for frame in iter_events(endpoints, n, seed=7, start=START, days=DAYS):
        written += append_events(project, frame, source="bench").accepted
    due = pd.Timestamp(START, tz="UTC") + pd.Timedelta(days=DAYS // 2, hours=9)
    plan = generate_plan(endpoints, campaign="bench", run_id="bench-run-1", due_at=due, seed=7)
    save_plan(project, plan)
    app = endpoints.drop_duplicates("User.UserId").set_index("User.UserId")["Id"].astype(str)
    campaign_events = generate_campaign_events(
        plan, seed=7, lift={"0": 0.1, "1": 0.2}, app_endpoints=app
    )
    written += append_events(project, campaign_events, source="bench").accepted
    size = sum(f.stat().st_size for f in project.store.events_dir.rglob("*.parquet"))
    meta = {
        "events": written,
        "endpoints": n_endpoints,
        "bytes": size,
        "seconds": time.perf_counter() - t0,
    }
    (root / "COMPLETE").write_text(json.dumps(meta))


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _PeakRSS:
    """Sample this process's RSS every 5 ms from start (``ru_maxrss`` survives exec, so a
    child would inherit its parent's peak; sampling measures the child alone)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def mb(self) -> float:
        self.peak = max(self.peak, self.proc.memory_info().rss)
        return self.peak / 2**20


_SAMPLER: _PeakRSS | None = None


def _peak_mb() -> float:
    return _SAMPLER.mb() if _SAMPLER is not None else float("nan")


def run_duckdb(n: int, query: str, end: str | None, threads: int) -> dict:
    from engagekit import analytics
    from engagekit.events import lake
    from engagekit.project import Project

    project = Project.open(project_dir(n))
    con = lake(project, end=end, threads=threads, memory_limit="3GB")
    cpu0 = _cpu()
    start_t = time.perf_counter()
    if query == "usage":
        out = analytics.usage(con, START, end)
        summary = {
            "days": len(out),
            "last_mau": int(out["mau"].iloc[-1]),
            "dau_sum": int(out["dau"].sum()),
        }
    elif query == "retention":
        out = analytics.retention_cohorts(con, START, end, days=(7,), rolling=True)
        summary = {
            "cohorts": len(out),
            "users": int(out["users"].sum()),
            "retained_7": int(out["retained_7"].sum()),
        }
    elif query == "funnel":
        out = analytics.funnel(con, STEPS, START, end, window="1D")
        summary = {"users": [int(x) for x in out["users"]]}
    else:
        out = analytics.campaign_metrics(con, "bench")
        summary = {
            "rows": len(out),
            "sent": int(out["sent"].sum()),
            "sessions": int(out["sessions"].sum()),
            "opens": int(out["opens"].sum()),
        }
    seconds = time.perf_counter() - start_t
    return {"seconds": seconds, "cpu": _cpu() - cpu0, "peak_mb": _peak_mb(), "summary": summary}


def run_reingest(n: int, query: str, end: str | None, threads: int) -> dict:
    """Append the lake's first generated day again: every event is a duplicate (idempotence)."""
    from engagekit.endpoints import read_endpoints
    from engagekit.events import append_events, iter_events
    from engagekit.project import Project

    project = Project.open(project_dir(n))
    endpoints = read_endpoints(project)
    day = next(iter(iter_events(endpoints, n, seed=7, start=START, days=DAYS)))
    start_t = time.perf_counter()
    report = append_events(project, day, source="bench-reingest", record=False)
    seconds = time.perf_counter() - start_t
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "summary": {
            "rows": report.received,
            "duplicates": report.duplicates,
            "accepted": report.accepted,
        },
    }


def run_pandas(n: int, query: str, end: str, threads: int) -> dict:
    """The same numbers in pandas: load the needed columns of the subset, then compute."""
    import pyarrow.dataset as ds

    from engagekit.events import lake_files
    from engagekit.project import Project

    project = Project.open(project_dir(n))
    files = [str(f) for f in lake_files(project.store.events_dir, None, end)]
    cpu0 = _cpu()
    t0 = time.perf_counter()
    types = {
        "usage": ["_session.start"],
        "retention": ["_session.start"],
        "funnel": STEPS,
        "campaign": None,
    }[query]
    cols = ["event_type", "event_timestamp", "user_id", "endpoint_id"]
    if query == "campaign":
        cols += ["run_id", "treatment_id", "campaign_id"]
    dataset = ds.dataset(files, format="parquet")
    flt = ds.field("event_timestamp") < pd.Timestamp(end, tz="UTC")
    if types:
        flt = flt & ds.field("event_type").isin(types)
    ev = dataset.to_table(columns=cols, filter=flt).to_pandas()
    ev["uid"] = ev["user_id"].fillna(ev["endpoint_id"])
    load = time.perf_counter() - t0
    t1 = time.perf_counter()
    start_ts = pd.Timestamp(START)
    if query in ("usage", "retention"):
        ev["day"] = ev["event_timestamp"].dt.tz_convert(None).dt.normalize()
        act = ev[["uid", "day"]].drop_duplicates()
    if query == "usage":
        days = sorted(d for d in act["day"].unique() if d >= start_ts)
        dau = act.groupby("day").size()
        mau = [
            act.loc[(act["day"] > d - pd.Timedelta(days=30)) & (act["day"] <= d), "uid"].nunique()
            for d in days
        ]
        summary = {"days": len(days), "last_mau": int(mau[-1]), "dau_sum": int(dau.loc[days].sum())}
    elif query == "retention":
        first = act.groupby("uid")["day"].min().rename("cohort")
        j = act.join(first, on="uid")
        j = j[j["cohort"] >= start_ts]
        j["n"] = (j["day"] - j["cohort"]).dt.days
        users = j.groupby("cohort")["uid"].nunique()
        back = j[(j["n"] >= 1) & (j["n"] <= 7)].groupby("cohort")["uid"].nunique()
        summary = {"cohorts": len(users), "users": int(users.sum()), "retained_7": int(back.sum())}
    elif query == "funnel":
        ev = ev[ev["event_timestamp"] >= pd.Timestamp(START, tz="UTC")]
        cur = (
            ev[ev["event_type"] == STEPS[0]]
            .groupby("uid")["event_timestamp"]
            .min()
            .rename("t")
            .to_frame()
        )
        cur["t0"] = cur["t"]
        counts = [len(cur)]
        for step in STEPS[1:]:
            x = ev.loc[ev["event_type"] == step, ["uid", "event_timestamp"]]
            m = x.merge(cur.reset_index(), on="uid")
            m = m[
                (m["event_timestamp"] >= m["t"])
                & (m["event_timestamp"] <= m["t0"] + pd.Timedelta(days=1))
            ]
            cur = m.groupby("uid").agg(t=("event_timestamp", "min"), t0=("t0", "min"))
            counts.append(len(cur))
        summary = {"users": counts}
    else:
        plans = pd.read_parquet(project.store.root / "plans")
        plans["uid"] = plans["user_id"].fillna(plans["endpoint_id"])
        msg = ev[ev["run_id"].notna()]
        sent = (
            msg[msg["event_type"] == "_campaign.send"]
            .groupby(["run_id", "treatment_id"])["endpoint_id"]
            .nunique()
        )
        opens = (
            msg[msg["event_type"] == "_email.open"]
            .groupby(["run_id", "treatment_id"])["endpoint_id"]
            .nunique()
        )
        since = plans.groupby("run_id")["due_at"].min().rename("since")
        users = plans[["run_id", "treatment_id", "uid"]].drop_duplicates().join(since, on="run_id")
        app = ev[ev["event_type"] == "_session.start"][["uid", "event_timestamp"]]
        m = app.merge(users, on="uid")
        sessions = int((m["event_timestamp"] >= m["since"]).sum())
        summary = {
            "rows": int(plans["treatment_id"].nunique()),
            "sent": int(sent.sum()),
            "sessions": sessions,
            "opens": int(opens.sum()),
        }
    compute = time.perf_counter() - t1
    return {
        "seconds": load + compute,
        "cpu": _cpu() - cpu0,
        "load": load,
        "compute": compute,
        "peak_mb": _peak_mb(),
        "summary": summary,
    }


def child(args: argparse.Namespace) -> None:
    global _SAMPLER
    _SAMPLER = _PeakRSS()
    fn = {"duckdb": run_duckdb, "pandas": run_pandas, "reingest": run_reingest}[args.engine]
    print(json.dumps(fn(args.n, args.query, args.end, args.threads)))


def measure(n: int, engine: str, query: str, end: str | None, threads: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--days",
        str(DAYS),
        "--child",
        "--n",
        str(n),
        "--engine",
        engine,
        "--query",
        query,
        "--threads",
        str(threads),
    ]
    if end:
        cmd += ["--end", end]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} {query} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500k events over 7 days")
    parser.add_argument("--days", type=int, default=None, help="days of events (30; quick: 7)")
    parser.add_argument("--events", type=int, default=None, help="events in the lake (50M)")
    parser.add_argument(
        "--subset-days",
        type=int,
        default=None,
        help="days of the lake pandas computes on (default: what fits, ~5M)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--query", help=argparse.SUPPRESS)
    parser.add_argument("--end", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global DAYS
    DAYS = args.days or (7 if args.quick else 30)
    if args.child:
        child(args)
        return
    n = args.events or (500_000 if args.quick else 50_000_000)
    t = time.perf_counter()
    generate(n)
    meta = json.loads((project_dir(n) / "COMPLETE").read_text())
    print(
        f"lake: {meta['events']:,} events, {meta['endpoints']:,} endpoints, "
        f"{meta['bytes'] / 2**30:.2f} GiB Parquet in {project_dir(n)} "
        f"(generated in {meta['seconds']:.0f} s; ready in {time.perf_counter() - t:.1f} s)"
    )
    # pandas gets the first days of the lake: about 5M events at full size, the whole lake
    # when it is small
    subset_days = args.subset_days or max(1, min(DAYS, round(DAYS * 5_000_000 / n)))
    if n <= 5_000_000 and args.subset_days is None:
        subset_days = DAYS
    subset_end = (pd.Timestamp(START) + pd.Timedelta(days=subset_days)).strftime("%Y-%m-%d")
    if subset_days >= DAYS:
        subset_end = (pd.Timestamp(START) + pd.Timedelta(days=DAYS + 2)).strftime("%Y-%m-%d")
    print(f"\nDuckDB over the whole lake ({args.threads} threads, memory_limit 3GB):")
    print(f"{'query':<12}{'seconds':>10}{'CPU s':>8}{'peak RSS MB':>14}  result")
    full = {}
    for q in QUERIES:
        r = measure(n, "duckdb", q, None, args.threads)
        full[q] = r
        print(f"{q:<12}{r['seconds']:>10.2f}{r['cpu']:>8.1f}{r['peak_mb']:>14.0f}  {r['summary']}")
    print(f"\nsame data, subset up to {subset_end} ({subset_days} days): DuckDB vs pandas")
    print(
        f"{'query':<12}{'duckdb s':>10}{'pandas s':>10}{'(load+compute)':>18}{'ratio':>8}"
        f"{'duck MB':>9}{'pandas MB':>11}  same result"
    )
    for q in QUERIES:
        d = measure(n, "duckdb", q, subset_end, args.threads)
        p = measure(n, "pandas", q, subset_end, args.threads)
        same = d["summary"] == p["summary"]
        split = f"({p['load']:.1f}+{p['compute']:.1f})"
        print(
            f"{q:<12}{d['seconds']:>10.2f}{p['seconds']:>10.2f}{split:>18}"
            f"{p['seconds'] / d['seconds']:>7.1f}x{d['peak_mb']:>9.0f}{p['peak_mb']:>11.0f}"
            f"  {same}"
        )
        if not same:
            print(f"   duckdb {d['summary']}\n   pandas {p['summary']}")
    r = measure(n, "reingest", "reingest", None, args.threads)
    rate = r["summary"]["rows"] / r["seconds"]
    print(
        f"\nre-append one generated day ({r['summary']['rows']:,} events, all duplicates): "
        f"{r['seconds']:.2f} s ({rate:,.0f} events/s), {r['summary']['accepted']} added, "
        f"peak RSS {r['peak_mb']:.0f} MB"
    )
    worst = max(r["seconds"] for r in full.values())
    peak = max(r["peak_mb"] for r in full.values())
    verdict = "meets" if worst <= 10 and peak <= 4096 else "misses"
    cpu = max(r["cpu"] for r in full.values())
    load = os.getloadavg()[0]
    print(
        f"\nslowest query {worst:.2f} s (most CPU {cpu:.1f} s over {args.threads} threads), "
        f"highest peak RSS {peak:.0f} MB: {verdict} the target (<= 10 s, <= 4 GB); "
        f"1-min load average {load:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
