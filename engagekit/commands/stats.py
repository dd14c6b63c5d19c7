"""``engagekit stats analyze | srm | plan``: experiment statistics from the command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from engagekit import stats
from engagekit.errors import ImportFileError
from engagekit.stats import StatsInputError


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.rpartition("=")
        if not sep or not key:
            raise StatsInputError(f"{what} must look like NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ImportFileError(path, "no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".gz", ".txt"):
        return pd.read_csv(path)
    raise ImportFileError(path, "expected a .csv or .parquet file of one row per user")


def _emit(table: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        table.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(table.to_json(orient="records", indent=2))
    else:
        with pd.option_context(
            "display.width", 200, "display.max_columns", 40, "display.float_format", "{:.4g}".format
        ):
            print(table.to_string(index=False))


def _cmd_analyze(args: argparse.Namespace) -> int:
    frame = _read(args.file)
    metrics = _pairs(args.metric, "--metric")
    ratios: dict[str, tuple[str, str]] = {}
    for name, spec in _pairs(args.ratio, "--ratio").items():
        num, sep, den = spec.partition("/")
        if not sep or not num or not den:
            raise StatsInputError(
                f"--ratio must look like NAME=NUMERATOR/DENOMINATOR, got {spec!r}"
            )
        ratios[name] = (num, den)
    if not metrics and not ratios:
        raise StatsInputError("name at least one metric, e.g. --metric conversion=proportion")
    pre: str | dict[str, str] | None = None
    if args.pre:
        pairs = _pairs([p for p in args.pre if "=" in p], "--pre")
        single = [p for p in args.pre if "=" not in p]
        pre = single[0] if single and not pairs else pairs or None
    table = stats.analyze(
        frame,
        arm=args.arm,
        control=args.control,
        metrics=metrics,  # type: ignore[arg-type]
        pre=pre,
        alpha=args.alpha,
        alternative=args.alternative,
        proportion_method=args.proportion_method,
        between_treatments=args.between_treatments,
        sequential_looks=args.sequential,
        n_star=args.n_star,
        ratios=ratios,
        by=args.by,
        unit=args.unit,
        cap={k: float(v) for k, v in _pairs(args.cap, "--cap").items()} or None,
    )
    check = stats.srm(frame, arm=args.arm)
    lead = [args.by] if args.by else []
    columns = stats.TABLE_COLUMNS if args.all_columns else stats.TABLE_COLUMNS[:17]
    _emit(table[lead + columns], args.format)
    print(f"# {check}", file=sys.stderr)
    return 0


def _cmd_srm(args: argparse.Namespace) -> int:
    counts: dict[str, int] | pd.DataFrame
    if args.file is not None:
        counts = _read(args.file)
    else:
        counts = {k: int(v) for k, v in _pairs(args.count, "--count").items()}
        if not counts:
            raise StatsInputError("give a per-user FILE or arm counts with --count ARM=N")
    expected = {k: float(v) for k, v in _pairs(args.expected, "--expected").items()} or None
    result = stats.srm(counts, expected, arm=args.arm, threshold=args.threshold)
    print(result)
    return 2 if result.flagged else 0


def _cmd_plan(args: argparse.Namespace) -> int:
    common = dict(
        metric=args.metric,
        baseline=args.baseline,
        sd=args.sd,
        alpha=args.alpha,
        power=args.power,
        holdout_share=args.holdout_share,
        treatments=args.treatments,
        alternative=args.alternative,
        variance_reduction=args.variance_reduction,
        allocation={k: float(v) for k, v in _pairs(args.allocation, "--allocation").items()}
        or None,
        control=args.control,
    )
    if (args.mde is None) == (args.n_total is None):
        raise StatsInputError(
            "give exactly one of --mde (to size the audience) or --n-total "
            "(to get the minimum detectable effect)"
        )
    if args.mde is not None:
        plan = stats.plan_sample_size(mde=args.mde, relative=not args.absolute, **common)
    else:
        plan = stats.plan_mde(n_total=args.n_total, **common)
    for key, value in plan.to_dict().items():
        shown = f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else value
        print(f"{key:>18}: {shown}")
    if args.json:
        print(json.dumps(plan.to_dict()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="experiment statistics: lifts, SRM, power planning")
    ss = p.add_subparsers(dest="stats_command", metavar="SUBCOMMAND", required=True)

    a = ss.add_parser("analyze", help="lift table of a per-user CSV/Parquet file")
    a.add_argument("file", type=Path, help="one row per user, an arm column and metric columns")
    a.add_argument("--arm", default="arm", help="arm column (default: arm)")
    a.add_argument("--control", default="holdout", help="control arm (default: holdout)")
    a.add_argument(
        "--metric",
        action="append",
        metavar="COLUMN=KIND",
        help="metric column and kind (mean | proportion); repeatable",
    )
    a.add_argument(
        "--ratio",
        action="append",
        metavar="NAME=NUM/DEN",
        help="ratio metric of two columns (delta method), e.g. rps=revenue/sessions; repeatable",
    )
    a.add_argument(
        "--pre",
        action="append",
        metavar="[METRIC=]COLUMN",
        help="CUPED pre-period covariate (for every mean metric, or per metric)",
    )
    a.add_argument("--by", default=None, help="break the analysis down by this column")
    a.add_argument("--unit", default=None, help="id column that must be unique (e.g. user_id)")
    a.add_argument(
        "--cap",
        action="append",
        metavar="COLUMN=QUANTILE",
        help="cap a heavy-tailed column at a quantile of its non-zero values, e.g. revenue=0.99",
    )
    a.add_argument("--alpha", type=float, default=0.05)
    a.add_argument("--alternative", choices=["two-sided", "greater", "less"], default="two-sided")
    a.add_argument("--proportion-method", choices=["newcombe", "wald"], default="newcombe")
    a.add_argument(
        "--between-treatments", action="store_true", help="also compare treatments with each other"
    )
    a.add_argument(
        "--sequential",
        action="store_true",
        help="always-valid intervals (normal-mixture confidence sequence)",
    )
    a.add_argument(
        "--n-star",
        type=float,
        default=stats.DEFAULT_N_STAR,
        help="sequential tuning: total sample size where intervals are tightest",
    )
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")
    a.add_argument("--all-columns", action="store_true", help="also print se, df, theta ...")
    a.set_defaults(func=_cmd_analyze)

    s = ss.add_parser("srm", help="sample-ratio-mismatch check (exit code 2 when flagged)")
    s.add_argument("file", type=Path, nargs="?", help="per-user CSV/Parquet file")
    s.add_argument("--arm", default="arm")
    s.add_argument("--count", action="append", metavar="ARM=N", help="observed users per arm")
    s.add_argument(
        "--expected",
        action="append",
        metavar="ARM=SHARE",
        help="planned share per arm (default: equal)",
    )
    s.add_argument("--threshold", type=float, default=stats.DEFAULT_SRM_THRESHOLD)
    s.set_defaults(func=_cmd_srm)

    q = ss.add_parser("plan", help="sample size for an MDE, or the MDE of an audience")
    q.add_argument("--metric", choices=["proportion", "mean"], required=True)
    q.add_argument("--baseline", type=float, required=True, help="holdout conversion rate or mean")
    q.add_argument("--sd", type=float, default=None, help="per-user standard deviation (mean)")
    q.add_argument(
        "--mde",
        type=float,
        default=None,
        help="effect to detect, relative to baseline (0.1 = +10%%)",
    )
    q.add_argument("--absolute", action="store_true", help="--mde is an absolute difference")
    q.add_argument("--n-total", type=int, default=None, help="audience size (gives the MDE)")
    q.add_argument("--holdout-share", type=float, default=0.1)
    q.add_argument("--treatments", type=int, default=1)
    q.add_argument(
        "--allocation",
        action="append",
        metavar="ARM=SHARE",
        help="unequal split, e.g. --allocation holdout=10 --allocation 0=60 --allocation 1=30",
    )
    q.add_argument("--control", default="holdout", help="the holdout arm in --allocation")
    q.add_argument("--alpha", type=float, default=0.05)
    q.add_argument("--power", type=float, default=0.8)
    q.add_argument("--alternative", choices=["two-sided", "greater"], default="two-sided")
    q.add_argument(
        "--variance-reduction",
        type=float,
        default=0.0,
        help="variance removed by CUPED on a previous run (0..1)",
    )
    q.add_argument("--json", action="store_true", help="also print the plan as JSON")
    q.set_defaults(func=_cmd_plan)
