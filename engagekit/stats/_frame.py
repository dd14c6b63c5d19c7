"""The convenience layer: from a per-user frame with an arm column to a tidy lift table."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd

from engagekit.stats._compare import compare_cuped, compare_means, compare_proportions
from engagekit.stats._errors import StatsInputError
from engagekit.stats._multiple import benjamini_hochberg, holm
from engagekit.stats._results import Comparison
from engagekit.stats._sequential import DEFAULT_N_STAR, sequential
from engagekit.stats._sufficient import CupedStats, MeanStats, ProportionStats

Kind = Literal["mean", "proportion"]
ArmStats = MeanStats | ProportionStats | CupedStats

TABLE_COLUMNS = [
    "metric",
    "arm",
    "control",
    "n",
    "n_control",
    "mean",
    "mean_control",
    "diff",
    "ci_low",
    "ci_high",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
    "p_holm",
    "p_bh",
    "method",
    "reason",
    "se",
    "rel_se",
    "statistic",
    "df",
    "alpha",
    "theta",
    "variance_reduction",
]


def _pre_columns(metrics: Mapping[str, str], pre: str | Mapping[str, str] | None) -> dict[str, str]:
    if pre is None:
        return {}
    if isinstance(pre, str):
        return {m: pre for m, kind in metrics.items() if kind == "mean"}
    unknown = sorted(set(pre) - set(metrics))
    if unknown:
        raise StatsInputError(
            f"pre names metric(s) {', '.join(unknown)} that are not in metrics "
            f"({', '.join(metrics)})"
        )
    return dict(pre)


def arm_stats(
    frame: pd.DataFrame,
    *,
    arm: str = "arm",
    metrics: Mapping[str, Kind],
    pre: str | Mapping[str, str] | None = None,
) -> dict[str, dict[str, ArmStats]]:
    """Sufficient statistics per metric and arm: ``{metric: {arm: stats}}``.

    Missing metric values are left out of that metric's count (so ``n`` may differ between
    metrics); proportion metrics must hold 0/1 or booleans. With ``pre`` (one covariate column
    for every mean metric, or ``{metric: column}``) the metric gets :class:`CupedStats`.
    One vectorised group-by per metric; the frame is not modified.
    """
    if arm not in frame.columns:
        raise StatsInputError(
            f"no arm column {arm!r} in the frame (columns: {', '.join(map(str, frame.columns))})",
            column=arm,
        )
    for kind_name, kind in metrics.items():
        if kind not in ("mean", "proportion"):
            raise StatsInputError(
                f"metric {kind_name!r} has kind {kind!r}; use 'mean' or 'proportion'",
                column=kind_name,
            )
    pre_cols = _pre_columns(metrics, pre)
    needed = set(metrics) | set(pre_cols.values())
    missing = sorted(c for c in needed if c not in frame.columns)
    if missing:
        raise StatsInputError(
            f"metric column(s) {', '.join(missing)} not in the frame "
            f"(columns: {', '.join(map(str, frame.columns))})",
            column=missing[0],
        )
    missing_arm = frame[arm].isna()
    if missing_arm.any():
        raise StatsInputError(
            f"{int(missing_arm.sum())} row(s) have no arm in column {arm!r}; users outside the "
            "experiment cannot be compared: drop them or give them their arm",
            column=arm,
        )
    arms = frame[arm].astype("string")
    out: dict[str, dict[str, ArmStats]] = {}
    for metric, kind in metrics.items():
        y = _numeric(frame[metric], metric)
        x = _numeric(frame[pre_cols[metric]], pre_cols[metric]) if metric in pre_cols else None
        keep = ~np.isnan(y) if x is None else ~(np.isnan(y) | np.isnan(x))
        if kind == "proportion":
            bad = keep & (y != 0) & (y != 1)
            if bad.any():
                raise StatsInputError(
                    f"proportion metric {metric!r} holds values other than 0/1 "
                    f"(e.g. {y[bad][0]!r}); declare it as 'mean'",
                    column=metric,
                )
        parts = {"y": y, "yy": y * y}
        if x is not None:
            parts.update(x=x, xx=x * x, xy=x * y)
        data = pd.DataFrame({k: v[keep] for k, v in parts.items()})
        data["arm"] = arms.to_numpy()[keep]
        grouped = data.groupby("arm", sort=True)
        sums = grouped.sum()
        counts = grouped.size()
        per_arm: dict[str, ArmStats] = {}
        for name in counts.index:
            n = int(counts[name])
            row = sums.loc[name]
            if x is not None:
                per_arm[str(name)] = CupedStats(
                    n,
                    float(row["y"]),
                    float(row["yy"]),
                    float(row["x"]),
                    float(row["xx"]),
                    float(row["xy"]),
                )
            elif kind == "proportion":
                per_arm[str(name)] = ProportionStats(n, round(float(row["y"])))
            else:
                per_arm[str(name)] = MeanStats(n, float(row["y"]), float(row["yy"]))
        # arms with no usable value for this metric still exist, with n = 0
        for name in arms.unique():
            if str(name) not in per_arm:
                per_arm[str(name)] = _empty(kind, x is not None)
        out[metric] = per_arm
    return out


def _empty(kind: str, cuped: bool) -> ArmStats:
    if cuped:
        return CupedStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return ProportionStats(0, 0) if kind == "proportion" else MeanStats(0, 0.0, 0.0)


def _numeric(col: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
        return col.astype("float64").to_numpy(dtype=float, na_value=np.nan)
    raise StatsInputError(
        f"metric column {name!r} has dtype {col.dtype}; it must be numeric or boolean",
        column=name,
    )


def compare(
    treatment: ArmStats,
    control: ArmStats,
    *,
    alpha: float = 0.05,
    proportion_method: str = "newcombe",
    metric: str = "",
    arm_name: str = "treatment",
    control_name: str = "control",
) -> Comparison:
    """Dispatch on the statistics' type to the matching comparison."""
    labels = {"alpha": alpha, "metric": metric, "arm_name": arm_name, "control_name": control_name}
    if isinstance(treatment, CupedStats) and isinstance(control, CupedStats):
        return compare_cuped(treatment, control, **labels)  # type: ignore[arg-type]
    if isinstance(treatment, ProportionStats) and isinstance(control, ProportionStats):
        return compare_proportions(treatment, control, method=proportion_method, **labels)  # type: ignore[arg-type]
    if isinstance(treatment, MeanStats) and isinstance(control, MeanStats):
        return compare_means(treatment, control, **labels)  # type: ignore[arg-type]
    raise StatsInputError(
        f"cannot compare {type(treatment).__name__} with {type(control).__name__}; both arms "
        "need the same kind of statistics"
    )


def analyze_stats(
    stats: Mapping[str, Mapping[str, ArmStats]],
    *,
    control: str = "holdout",
    alpha: float = 0.05,
    proportion_method: str = "newcombe",
    between_treatments: bool = False,
    sequential_looks: bool = False,
    n_star: float = DEFAULT_N_STAR,
) -> pd.DataFrame:
    """The lift table from sufficient statistics ``{metric: {arm: stats}}``.

    One row per metric and treatment (vs ``control``), plus, with ``between_treatments``, one
    row per pair of treatments (``control`` column = the earlier arm). ``p_holm`` and ``p_bh``
    correct across every row of the table (all treatments and metrics). With
    ``sequential_looks`` the intervals and p-values are always-valid (see
    :func:`engagekit.stats.sequential`).
    """
    rows: list[Comparison] = []
    for metric, per_arm in stats.items():
        if control not in per_arm:
            raise StatsInputError(
                f"control arm {control!r} not found for metric {metric!r}; arms: "
                f"{', '.join(sorted(per_arm))}",
                column=metric,
            )
        treatments = sorted(a for a in per_arm if a != control)
        pairs = [(t, control) for t in treatments]
        if between_treatments:
            pairs += [(b, a) for a, b in combinations(treatments, 2)]
        for t, c in pairs:
            result = compare(
                per_arm[t],
                per_arm[c],
                alpha=alpha,
                proportion_method=proportion_method,
                metric=metric,
                arm_name=t,
                control_name=c,
            )
            rows.append(sequential(result, n_star=n_star) if sequential_looks else result)
    table = pd.DataFrame(
        [r.to_dict() for r in rows],
        columns=[c for c in TABLE_COLUMNS if c not in ("p_holm", "p_bh")],
    )
    p = table["p_value"].to_numpy(dtype=float) if len(table) else np.array([])
    table.insert(table.columns.get_loc("p_value") + 1, "p_holm", holm(p))
    table.insert(table.columns.get_loc("p_holm") + 1, "p_bh", benjamini_hochberg(p))
    for col in ("n", "n_control"):
        table[col] = table[col].astype("int64")
    for col in ("theta", "variance_reduction"):
        table[col] = table[col].astype("float64")
    return table


def analyze(
    frame: pd.DataFrame,
    arm: str = "arm",
    control: str = "holdout",
    metrics: Mapping[str, Kind] | None = None,
    pre: str | Mapping[str, str] | None = None,
    *,
    alpha: float = 0.05,
    proportion_method: str = "newcombe",
    between_treatments: bool = False,
    sequential_looks: bool = False,
    n_star: float = DEFAULT_N_STAR,
) -> pd.DataFrame:
    """Analyse an experiment from a per-user frame: one tidy row per metric and treatment.

    ``metrics`` maps column -> ``"mean"`` or ``"proportion"``; ``pre`` adds CUPED with a
    pre-period covariate. Each row carries ``method`` (how its numbers were computed) and
    ``reason`` (why a number is NaN). See :func:`analyze_stats` for the options.

        >>> df = pd.DataFrame({"arm": ["holdout"] * 4 + ["A"] * 4,
        ...                    "converted": [0, 0, 1, 0, 1, 0, 1, 1]})
        >>> t = analyze(df, metrics={"converted": "proportion"})
        >>> t.loc[0, "arm"], float(t.loc[0, "mean"]), float(t.loc[0, "diff"])
        ('A', 0.75, 0.5)
    """
    if not metrics:
        raise StatsInputError(
            "metrics must name at least one column, e.g. {'conversion': 'proportion', "
            "'spend': 'mean'}"
        )
    stats = arm_stats(frame, arm=arm, metrics=metrics, pre=pre)
    return analyze_stats(
        stats,
        control=control,
        alpha=alpha,
        proportion_method=proportion_method,
        between_treatments=between_treatments,
        sequential_looks=sequential_looks,
        n_star=n_star,
    )
