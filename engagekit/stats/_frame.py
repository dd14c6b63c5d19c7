"""The convenience layer: from a per-user frame with an arm column to a tidy lift table."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd

from engagekit.stats._compare import (
    compare_cuped,
    compare_means,
    compare_proportions,
    compare_ratios,
)
from engagekit.stats._errors import StatsInputError
from engagekit.stats._multiple import benjamini_hochberg, holm
from engagekit.stats._results import Comparison
from engagekit.stats._sequential import DEFAULT_N_STAR, sequential
from engagekit.stats._sufficient import CupedStats, MeanStats, ProportionStats, RatioStats

Kind = Literal["mean", "proportion"]
ArmStats = MeanStats | ProportionStats | CupedStats | RatioStats

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
    metrics: Mapping[str, Kind] | None = None,
    pre: str | Mapping[str, str] | None = None,
    ratios: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, dict[str, ArmStats]]:
    """Sufficient statistics per metric and arm: ``{metric: {arm: stats}}``.

    Missing metric values are left out of that metric's count (so ``n`` may differ between
    metrics); proportion metrics must hold 0/1 or booleans. With ``pre`` (one covariate column
    for every mean metric, or ``{metric: column}``) the metric gets :class:`CupedStats`.
    ``ratios`` maps a name to ``(numerator column, denominator column)`` and gets
    :class:`RatioStats`. One vectorised pass (``numpy.bincount``) per metric; the frame is not
    modified.
    """
    return _stats_by(frame, arm=arm, metrics=metrics, pre=pre, ratios=ratios, by=None)[""]


def _specs(
    frame: pd.DataFrame,
    metrics: Mapping[str, Kind],
    pre: str | Mapping[str, str] | None,
    ratios: Mapping[str, tuple[str, str]],
) -> list[tuple[str, str, str, str | None]]:
    """Validated ``(name, kind, y column, x column)``; x is the covariate or the denominator."""
    for name, declared in metrics.items():
        if declared not in ("mean", "proportion"):
            raise StatsInputError(
                f"metric {name!r} has kind {declared!r}; use 'mean' or 'proportion' (and ratios= "
                "for a ratio of two columns)",
                column=name,
            )
    clash = sorted(set(metrics) & set(ratios))
    if clash:
        raise StatsInputError(f"{', '.join(clash)} named both as a metric and as a ratio")
    pre_cols = _pre_columns(metrics, pre)
    specs: list[tuple[str, str, str, str | None]] = [
        (m, "cuped" if m in pre_cols else k, m, pre_cols.get(m)) for m, k in metrics.items()
    ]
    for name, pair in ratios.items():
        if len(pair) != 2:
            raise StatsInputError(
                f"ratio {name!r} must be (numerator column, denominator column), got {pair!r}"
            )
        specs.append((name, "ratio", pair[0], pair[1]))
    needed = {c for _, _, y, x in specs for c in (y, x) if c is not None}
    missing = sorted(c for c in needed if c not in frame.columns)
    if missing:
        raise StatsInputError(
            f"metric column(s) {', '.join(missing)} not in the frame "
            f"(columns: {', '.join(map(str, frame.columns))})",
            column=missing[0],
        )
    return specs


def _stats_by(
    frame: pd.DataFrame,
    *,
    arm: str,
    metrics: Mapping[str, Kind] | None,
    pre: str | Mapping[str, str] | None,
    ratios: Mapping[str, tuple[str, str]] | None,
    by: str | None,
) -> dict[str, dict[str, dict[str, ArmStats]]]:
    """``{segment: {metric: {arm: stats}}}`` in one pass per metric (segment "" without by).

    Every segment lists every arm of the frame (``n = 0`` where the arm has no user there).
    """
    if arm not in frame.columns:
        raise StatsInputError(
            f"no arm column {arm!r} in the frame (columns: {', '.join(map(str, frame.columns))})",
            column=arm,
        )
    specs = _specs(frame, dict(metrics or {}), pre, dict(ratios or {}))
    missing_arm = frame[arm].isna()
    if missing_arm.any():
        raise StatsInputError(
            f"{int(missing_arm.sum())} row(s) have no arm in column {arm!r}; users outside the "
            "experiment cannot be compared: drop them or give them their arm",
            column=arm,
        )
    arm_codes, arm_labels = pd.factorize(frame[arm].astype("string"), sort=True)
    names = [str(label) for label in arm_labels]
    n_arms = len(names)
    if by is None:
        segments, codes = [""], arm_codes
    else:
        seg_codes, seg_labels = pd.factorize(
            frame[by].astype("string").fillna("<missing>"), sort=True
        )
        segments = [str(label) for label in seg_labels]
        codes = seg_codes.astype(np.int64) * n_arms + arm_codes
    groups = len(segments) * n_arms
    out: dict[str, dict[str, dict[str, ArmStats]]] = {seg: {} for seg in segments}
    for name, kind, y_col, x_col in specs:
        y = _numeric(frame[y_col], y_col)
        x = _numeric(frame[x_col], x_col) if x_col is not None else None
        keep = ~np.isnan(y) if x is None else ~(np.isnan(y) | np.isnan(x))
        if kind == "proportion":
            bad = keep & (y != 0) & (y != 1)
            if bad.any():
                raise StatsInputError(
                    f"proportion metric {name!r} holds values other than 0/1 "
                    f"(e.g. {y[bad][0]!r}); declare it as 'mean'",
                    column=name,
                )
        all_kept = bool(keep.all())
        c = codes if all_kept else codes[keep]
        yk = y if all_kept else y[keep]
        counts = np.bincount(c, minlength=groups)

        def total(values: np.ndarray, c: np.ndarray = c) -> np.ndarray:
            return np.bincount(c, weights=values, minlength=groups)

        sy, syy = total(yk), total(yk * yk)
        if x is not None:
            xk = x if all_kept else x[keep]
            sx, sxx, sxy = total(xk), total(xk * xk), total(xk * yk)
        for s_idx, segment in enumerate(segments):
            per_arm: dict[str, ArmStats] = {}
            for a_idx, label in enumerate(names):
                i = s_idx * n_arms + a_idx
                n = int(counts[i])
                if kind == "proportion":
                    per_arm[label] = ProportionStats(n, round(float(sy[i])))
                elif kind == "mean":
                    per_arm[label] = MeanStats(n, float(sy[i]), float(syy[i]))
                else:
                    cls = CupedStats if kind == "cuped" else RatioStats
                    per_arm[label] = cls(
                        n, float(sy[i]), float(syy[i]), float(sx[i]), float(sxx[i]), float(sxy[i])
                    )
            out[segment][name] = per_arm
    return out


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
    alternative: str = "two-sided",
    proportion_method: str = "newcombe",
    metric: str = "",
    arm_name: str = "treatment",
    control_name: str = "control",
) -> Comparison:
    """Dispatch on the statistics' type to the matching comparison."""
    labels = {
        "alpha": alpha,
        "alternative": alternative,
        "metric": metric,
        "arm_name": arm_name,
        "control_name": control_name,
    }
    if isinstance(treatment, CupedStats) and isinstance(control, CupedStats):
        return compare_cuped(treatment, control, **labels)  # type: ignore[arg-type]
    if isinstance(treatment, ProportionStats) and isinstance(control, ProportionStats):
        return compare_proportions(treatment, control, method=proportion_method, **labels)  # type: ignore[arg-type]
    if isinstance(treatment, RatioStats) and isinstance(control, RatioStats):
        return compare_ratios(treatment, control, **labels)  # type: ignore[arg-type]
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
    alternative: str = "two-sided",
    proportion_method: str = "newcombe",
    between_treatments: bool = False,
    sequential_looks: bool = False,
    n_star: float = DEFAULT_N_STAR,
) -> pd.DataFrame:
    """The lift table from sufficient statistics ``{metric: {arm: stats}}``.

    One row per metric and treatment (vs ``control``), plus, with ``between_treatments``, one
    row per pair of treatments (``control`` column = the earlier arm). ``p_holm`` and ``p_bh``
    correct across every row of the table (all treatments and metrics). ``alternative``
    ("greater" / "less") makes every test one-sided. With ``sequential_looks`` the intervals
    and p-values are always-valid (see :func:`engagekit.stats.sequential`).
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
                alternative=alternative,
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
    for col in ("n", "n_control"):
        table[col] = table[col].astype("int64")
    for col in ("theta", "variance_reduction"):
        table[col] = table[col].astype("float64")
    return _with_corrections(table)


def _with_corrections(table: pd.DataFrame) -> pd.DataFrame:
    """(Re)compute ``p_holm`` and ``p_bh`` across every row of the table."""
    table = table.drop(columns=["p_holm", "p_bh"], errors="ignore")
    p = table["p_value"].to_numpy(dtype=float) if len(table) else np.array([])
    table.insert(table.columns.get_loc("p_value") + 1, "p_holm", holm(p))
    table.insert(table.columns.get_loc("p_holm") + 1, "p_bh", benjamini_hochberg(p))
    return table


def _capped(
    frame: pd.DataFrame, cap: Mapping[str, float], used: set[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy of the used columns with upper quantile capping; notes per capped column."""
    unknown = sorted(set(cap) - used)
    if unknown:
        raise StatsInputError(
            f"cap names column(s) {', '.join(unknown)} that no metric uses "
            f"(metric columns: {', '.join(sorted(used))})"
        )
    out = frame.copy(deep=False)
    notes: dict[str, str] = {}
    for col, q in cap.items():
        if not 0.0 < q < 1.0:
            raise StatsInputError(
                f"cap for {col!r} must be a quantile between 0 and 1 (e.g. 0.99), got {q}",
                column=col,
            )
        values = _numeric(frame[col], col)
        nonzero = values[~np.isnan(values) & (values != 0)]
        if nonzero.size == 0:
            continue
        limit = float(np.quantile(nonzero, q))
        out[col] = np.minimum(values, limit)  # NaN stays NaN
        capped = int((nonzero > limit).sum())
        notes[col] = (
            f"{col} capped at the {q:g} quantile of its non-zero values, all arms pooled "
            f"({limit:.6g}; {capped} values capped)"
        )
    return out, notes


def analyze(
    frame: pd.DataFrame,
    arm: str = "arm",
    control: str = "holdout",
    metrics: Mapping[str, Kind] | None = None,
    pre: str | Mapping[str, str] | None = None,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    proportion_method: str = "newcombe",
    between_treatments: bool = False,
    sequential_looks: bool = False,
    n_star: float = DEFAULT_N_STAR,
    ratios: Mapping[str, tuple[str, str]] | None = None,
    by: str | None = None,
    cap: Mapping[str, float] | None = None,
    unit: str | None = None,
) -> pd.DataFrame:
    """Analyse an experiment from a per-user frame: one tidy row per metric and treatment.

    ``metrics`` maps column -> ``"mean"`` or ``"proportion"``; ``pre`` adds CUPED with a
    pre-period covariate; ``ratios`` maps a name to ``(numerator, denominator)`` columns for
    ratio metrics such as revenue per session (delta method). ``cap`` maps a metric column to
    an upper quantile (e.g. ``{"revenue": 0.99}``): values above that quantile of the column's
    non-zero values, all arms pooled, are capped, which tames heavy tails (zeros are left out
    of the quantile, or a mostly-zero metric would be capped to nothing; the row's ``method``
    says what was capped). ``by`` breaks
    the analysis down by a column (country, platform...): the table gets that column first and
    the corrections then run across every segment, treatment and metric.

    Each row carries ``method`` (how its numbers were computed) and ``reason`` (why a number is
    NaN). ``unit`` names the randomisation unit's id column (e.g. ``"user_id"``): each unit
    must appear once, since the tests assume independent rows. See :func:`analyze_stats` for
    the other options.

        >>> df = pd.DataFrame({"arm": ["holdout"] * 4 + ["A"] * 4,
        ...                    "converted": [0, 0, 1, 0, 1, 0, 1, 1]})
        >>> t = analyze(df, metrics={"converted": "proportion"})
        >>> t.loc[0, "arm"], float(t.loc[0, "mean"]), float(t.loc[0, "diff"])
        ('A', 0.75, 0.5)
    """
    if not metrics and not ratios:
        raise StatsInputError(
            "metrics must name at least one column, e.g. {'conversion': 'proportion', "
            "'spend': 'mean'}"
        )
    options = {
        "control": control,
        "alpha": alpha,
        "alternative": alternative,
        "proportion_method": proportion_method,
        "between_treatments": between_treatments,
        "sequential_looks": sequential_looks,
        "n_star": n_star,
    }
    if unit is not None:
        if unit not in frame.columns:
            raise StatsInputError(f"no unit column {unit!r} in the frame", column=unit)
        dup = frame[unit].duplicated(keep=False)
        if dup.any():
            raise StatsInputError(
                f"{int(frame.loc[dup, unit].nunique())} {unit} value(s) appear on several rows "
                f"(e.g. {frame.loc[dup, unit].iloc[0]!r}); the tests assume one row per "
                "randomised unit: aggregate per unit first",
                column=unit,
            )
    notes: dict[str, str] = {}
    if cap:
        used = set(metrics or {}) | {c for pair in (ratios or {}).values() for c in pair}
        frame, notes = _capped(frame, cap, used)
    if by is not None and by not in frame.columns:
        raise StatsInputError(f"no column {by!r} to break the analysis down by", column=by)
    if by is not None and by == arm:
        raise StatsInputError("by must be another column than the arm column", column=by)
    per_segment = _stats_by(frame, arm=arm, metrics=metrics, pre=pre, ratios=ratios, by=by)
    if by is None:
        table = analyze_stats(per_segment[""], **options)  # type: ignore[arg-type]
    else:
        parts = []
        for segment, stats in per_segment.items():
            part = analyze_stats(stats, **options)  # type: ignore[arg-type]
            part.insert(0, by, segment)
            parts.append(part)
        table = _with_corrections(pd.concat(parts, ignore_index=True))
    if notes:
        columns = _metric_columns(metrics, ratios)
        extra = table["metric"].map(
            lambda m: "; ".join(notes[c] for c in columns.get(m, ()) if c in notes)
        )
        table["method"] = [
            f"{method}; {note}" if note else method
            for method, note in zip(table["method"], extra, strict=True)
        ]
    return table


def _metric_columns(
    metrics: Mapping[str, Kind] | None, ratios: Mapping[str, tuple[str, str]] | None
) -> dict[str, tuple[str, ...]]:
    cols: dict[str, tuple[str, ...]] = {m: (m,) for m in metrics or {}}
    cols.update({name: tuple(pair) for name, pair in (ratios or {}).items()})
    return cols
