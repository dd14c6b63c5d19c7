"""Experiment statistics on a per-user frame: engagekit.stats.analyze vs scipy/statsmodels.

    python benchmarks/bench_stats.py            # 10M users, 3 arms (2 treatments + holdout)
    python benchmarks/bench_stats.py --quick    # 500k users

Metrics: conversion (proportion), sessions (mean, and CUPED on a pre-period covariate),
revenue (mean), revenue per session (ratio). engagekit reduces the frame to sufficient
statistics once (one vectorised pass per metric) and then works on a handful of numbers; the
reference in the same run computes the same comparisons from the raw per-arm arrays with
scipy.stats.ttest_ind(equal_var=False), statsmodels proportions_ztest and
confint_proportions_2indep(method="newcomb"). Also timed: the pure engine on precomputed
statistics, and merging statistics of 16 partitions (as from days or executors).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from engagekit import stats

ARMS = np.array(["0", "1", "holdout"])
METRICS = {"converted": "proportion", "sessions": "mean", "revenue": "mean"}


def _frame(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = ARMS[rng.choice(3, size=n, p=[0.45, 0.45, 0.10])]
    lift = np.where(arm == "0", 0.02, np.where(arm == "1", 0.01, 0.0))
    pre = rng.gamma(1.5, 2.0, n)
    sessions = rng.poisson(1.0 + 0.4 * pre + 5 * lift).astype(np.float64)
    return pd.DataFrame(
        {
            "arm": pd.Series(arm, dtype="string"),
            "converted": rng.random(n) < 0.05 + lift,
            "sessions": sessions,
            "sessions_pre": pre,
            "revenue": rng.exponential(20.0, n) * (rng.random(n) < 0.04 + lift),
            "sessions_plus": sessions + 1.0,
        }
    )


def _reference(df: pd.DataFrame) -> int:
    """The same treatment-vs-holdout comparisons from raw arrays, with scipy / statsmodels."""
    done = 0
    control = df["arm"] == "holdout"
    for treatment in ("0", "1"):
        mask = df["arm"] == treatment
        for metric in ("sessions", "revenue"):
            t = df.loc[mask, metric].to_numpy()
            c = df.loc[control, metric].to_numpy()
            res = sps.ttest_ind(t, c, equal_var=False)
            res.confidence_interval()
            done += 1
        k1, n1 = int(df.loc[mask, "converted"].sum()), int(mask.sum())
        k0, n0 = int(df.loc[control, "converted"].sum()), int(control.sum())
        proportions_ztest([k1, k0], [n1, n0])
        confint_proportions_2indep(k1, n1, k0, n0, method="newcomb")
        done += 1
    return done


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500k users instead of 10M")
    parser.add_argument("--users", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.users or (500_000 if args.quick else 10_000_000)

    t0 = time.perf_counter()
    df = _frame(n)
    print(f"users: {n:,}  (frame built in {time.perf_counter() - t0:.2f} s)")

    t0 = time.perf_counter()
    suff = stats.arm_stats(
        df,
        arm="arm",
        metrics=METRICS,
        pre={"sessions": "sessions_pre"},
        ratios={"revenue_per_session": ("revenue", "sessions_plus")},
    )
    t_suff = time.perf_counter() - t0

    t0 = time.perf_counter()
    table = stats.analyze_stats(suff, control="holdout")
    t_engine = time.perf_counter() - t0

    t0 = time.perf_counter()
    stats.analyze(
        df,
        arm="arm",
        metrics=METRICS,
        pre={"sessions": "sessions_pre"},
        ratios={"revenue_per_session": ("revenue", "sessions_plus")},
    )
    t_analyze = time.perf_counter() - t0

    t0 = time.perf_counter()
    plain = stats.analyze(df, arm="arm", metrics=METRICS)
    t_plain = time.perf_counter() - t0

    t0 = time.perf_counter()
    comparisons = _reference(df)
    t_ref = time.perf_counter() - t0

    parts = np.array_split(np.arange(n), 16)
    per_part = [
        stats.arm_stats(df.iloc[idx], arm="arm", metrics={"revenue": "mean"}) for idx in parts
    ]
    t0 = time.perf_counter()
    merged = {
        a: sum((p["revenue"][a] for p in per_part), stats.MeanStats(0, 0.0, 0.0)) for a in ARMS
    }
    t_merge = time.perf_counter() - t0
    whole = stats.arm_stats(df, arm="arm", metrics={"revenue": "mean"})["revenue"]
    assert all(merged[a].n == whole[a].n for a in ARMS)

    rows = len(plain)
    print(f"{'step':<58} {'seconds':>9} {'users/s':>13}")
    for label, sec in [
        ("sufficient statistics (4 metrics, CUPED + ratio)", t_suff),
        ("engine on sufficient statistics (8 comparisons)", t_engine),
        ("analyze(), CUPED + ratio, end to end", t_analyze),
        (f"analyze(), 3 metrics x 2 treatments ({rows} rows)", t_plain),
        (f"reference: scipy/statsmodels on raw arrays ({comparisons} comparisons)", t_ref),
        ("merge 16 partitions' statistics", t_merge),
    ]:
        rate = (
            f"{n / sec:,.0f}" if sec > 0 and "engine" not in label and "merge" not in label else "-"
        )
        print(f"{label:<58} {sec:>9.4f} {rate:>13}")
    print(f"ratio analyze (3 metrics) / reference: {t_plain / t_ref:.2f}")
    print(f"peak RSS: {_peak_rss_mb():,.0f} MB")
    print(table[["metric", "arm", "diff", "ci_low", "ci_high", "p_value"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
