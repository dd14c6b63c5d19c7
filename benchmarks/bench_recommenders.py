"""Recommender benchmark: fit and top-5 for every user on synthetic implicit feedback, per model.

Default size: 100k users × 20k items × 5M interactions from ``recommenders.sample_interactions``
(power-law item popularity, heavy-tailed user activity, taste clusters; vectorised, seeded).
Each model runs in its own process so its peak RSS is its own; the reference in the same run
is the popularity baseline (EASE's dense item × item inverse is out of reach at 20k items; it
appears in the MovieLens table). Then the MovieLens 100k evaluation table (75/25 stratified
split, k=10) when ../shared is there.

    .venv/bin/python benchmarks/bench_recommenders.py            # full size
    .venv/bin/python benchmarks/bench_recommenders.py --quick    # small, < 30 s
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]
MOVIELENS = REPO.parent / "shared" / "datasets" / "movielens-100k"


def _make(name: str):
    from recommenders import ALSRecommender, ItemKNNRecommender, PopularityRecommender

    return {
        "popularity": PopularityRecommender,
        "itemknn": ItemKNNRecommender,
        "itemknn_source": lambda: ItemKNNRecommender(prune="source"),
        "als": lambda: ALSRecommender(random_state=0),
    }[name]()


def _reset_peak_rss() -> bool:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _run_model(name: str, sizes: tuple[int, int, int], out: mp.Queue) -> None:
    from recommenders import sample_interactions

    data = sample_interactions(*sizes, seed=0)
    gc.collect()
    rss_data = psutil.Process().memory_info().rss
    _reset_peak_rss()  # the peak below is fit + recommend, not the data generator's
    model = _make(name)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(data)
    t1, c1 = time.perf_counter(), time.process_time()
    recs = model.recommend(None, k=5)
    t2, c2 = time.perf_counter(), time.process_time()
    peak = _peak_rss()
    out.put(
        {
            "model": name,
            "fit_s": t1 - t0,
            "top5_s": t2 - t1,
            "fit_cpu_s": c1 - c0,
            "top5_cpu_s": c2 - c1,
            "users_per_s": model.n_users_ / (t2 - t1),
            "rows": len(recs),
            "data_rss_mb": rss_data / 2**20,
            "peak_rss_mb": peak / 2**20,
        }
    )


def bench_synthetic(sizes: tuple[int, int, int], models: list[str]) -> pd.DataFrame:
    ctx = mp.get_context("spawn")
    rows = []
    for name in models:
        queue: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_run_model, args=(name, sizes, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()
        r = rows[-1]
        print(
            f"  {name:<15} fit {r['fit_s']:7.2f} s (cpu {r['fit_cpu_s']:.2f} s)   "
            f"top-5 for all users {r['top5_s']:7.2f} s (cpu {r['top5_cpu_s']:.2f} s, "
            f"{r['users_per_s']:,.0f} users/s)   peak RSS {r['peak_rss_mb']:,.0f} MB "
            f"(data before fit {r['data_rss_mb']:,.0f} MB)",
            flush=True,
        )
    table = pd.DataFrame(rows).set_index("model")
    if "popularity" in table.index:
        ref = table.loc["popularity", "fit_s"] + table.loc["popularity", "top5_s"]
        table["total_vs_popularity"] = (table["fit_s"] + table["top5_s"]) / ref
    return table


def bench_movielens(quick: bool) -> pd.DataFrame | None:
    from recommenders import (
        ALSRecommender,
        EASERecommender,
        ItemKNNRecommender,
        PopularityRecommender,
        compare,
        load_movielens,
        split_stratified,
    )

    if not MOVIELENS.exists():
        print(f"  {MOVIELENS} is absent: MovieLens table skipped")
        return None
    data = load_movielens(MOVIELENS)
    if quick:
        data = data[data["user_id"] <= 300]
    train, test = split_stratified(data, ratio=0.75, seed=42)
    table = compare(
        {
            "popularity": PopularityRecommender(),
            "itemknn": ItemKNNRecommender(),
            "itemknn_source": ItemKNNRecommender(prune="source"),
            "als": ALSRecommender(random_state=0),
            "ease": EASERecommender(n_threads=1),
        },
        train,
        test,
        k=10,
    )
    table["ndcg_vs_popularity"] = table["ndcg@10"] / table.loc["popularity", "ndcg@10"]
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 30 s)")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--interactions", type=int, default=None)
    parser.add_argument("--models", default="popularity,itemknn,itemknn_source,als")
    args = parser.parse_args(argv)
    default = (10_000, 2_000, 200_000) if args.quick else (100_000, 20_000, 5_000_000)
    sizes = (
        args.users or default[0],
        args.items or default[1],
        args.interactions or default[2],
    )
    print(
        f"{psutil.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start "
        "(cpu seconds count this process only; wall seconds include waiting for a core)"
    )
    print(
        f"synthetic implicit feedback: {sizes[0]:,} users × {sizes[1]:,} items × "
        f"{sizes[2]:,} interactions; each model in its own process",
        flush=True,
    )
    t = time.perf_counter()
    table = bench_synthetic(sizes, [m.strip() for m in args.models.split(",") if m.strip()])
    print(table.round(3).to_string())
    print(
        f"\nMovieLens 100k, 75/25 stratified split, k=10{' (users ≤ 300)' if args.quick else ''}:"
    )
    ml = bench_movielens(args.quick)
    if ml is not None:
        print(ml.round(4).to_string())
        print(
            "public reference: popularity precision@10 0.224, nDCG@10 0.248; "
            "SAR 0.331 / 0.382; BPR precision@10 0.388"
        )
    print(f"\ntotal {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
