"""Human-readable lift tables for reports: every figure with its interval, verdict and method."""

from __future__ import annotations

import math

import pandas as pd


def _num(v: float, digits: int) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:.{digits}g}"


def _signed(v: float, digits: int) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:+.{digits}g}"


def _pct(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:+.1%}"


def _verdict(row: pd.Series, p_column: str) -> str:
    p = row[p_column]
    if not math.isfinite(p):
        reason = row.get("reason")
        return f"not computed: {reason}" if isinstance(reason, str) and reason else "not computed"
    if p < row["alpha"]:
        return "higher than control" if row["diff"] > 0 else "lower than control"
    return "no significant difference"


def format_lifts(table: pd.DataFrame, *, digits: int = 4, p_column: str = "p_holm") -> pd.DataFrame:
    """Strings for a report: ``difference`` and ``relative lift`` with their intervals, the
    corrected p-value (``p_column``, Holm by default), a plain-words ``verdict`` and ``method``.

        >>> from engagekit.stats import analyze
        >>> df = pd.DataFrame({"arm": ["holdout"] * 50 + ["A"] * 50,
        ...                    "converted": [0] * 45 + [1] * 5 + [0] * 30 + [1] * 20})
        >>> row = format_lifts(analyze(df, metrics={"converted": "proportion"})).iloc[0]
        >>> row["relative lift"], row["verdict"]
        ('+300.0% [-59.3%, +659.3%]', 'higher than control')
    """
    lead = [c for c in table.columns[: list(table.columns).index("metric")]]
    out = pd.DataFrame({c: table[c] for c in [*lead, "metric", "arm", "control"]})
    out["n"] = [f"{a:,} vs {b:,}" for a, b in zip(table["n"], table["n_control"], strict=True)]
    out["mean"] = [
        f"{_num(a, digits)} vs {_num(b, digits)}"
        for a, b in zip(table["mean"], table["mean_control"], strict=True)
    ]
    out["difference"] = [
        f"{_signed(d, digits)} [{_num(lo, digits)}, {_num(hi, digits)}]"
        for d, lo, hi in zip(table["diff"], table["ci_low"], table["ci_high"], strict=True)
    ]
    out["relative lift"] = [
        f"{_pct(r)} [{_pct(lo)}, {_pct(hi)}]"
        for r, lo, hi in zip(
            table["rel_lift"], table["rel_ci_low"], table["rel_ci_high"], strict=True
        )
    ]
    out[p_column] = [_num(p, 2) for p in table[p_column]]
    out["verdict"] = [_verdict(row, p_column) for _, row in table.iterrows()]
    out["method"] = table["method"]
    return out
