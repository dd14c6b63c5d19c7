"""Sample-ratio mismatch: do the arm sizes match the planned allocation?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _sp

from engagekit.stats._errors import StatsInputError
from engagekit.stats._results import SrmResult

DEFAULT_SRM_THRESHOLD = 0.001


def srm(
    data: Mapping[str, int] | pd.Series | pd.DataFrame,
    expected: Mapping[str, float] | None = None,
    *,
    arm: str = "arm",
    threshold: float = DEFAULT_SRM_THRESHOLD,
) -> SrmResult:
    """Pearson chi-square test of observed arm sizes against planned shares.

    ``data`` is a mapping ``arm -> count``, a Series of counts indexed by arm, or a per-user
    DataFrame whose ``arm`` column is counted. ``expected`` maps arm -> planned share or weight
    (normalised; default: equal shares). An arm planned but absent counts as 0. The check is
    ``flagged`` when ``p < threshold`` (0.001 by default: SRM checks run on every experiment, so
    false alarms must be rare).

        >>> plan = {"A": 0.35, "B": 0.35, "holdout": 0.3}
        >>> r = srm({"A": 5000, "B": 5000, "holdout": 3900}, plan)
        >>> r.flagged, round(r.chi2, 2)
        (True, 24.97)
    """
    if isinstance(data, pd.DataFrame):
        if arm not in data.columns:
            raise StatsInputError(
                f"no arm column {arm!r} in the frame "
                f"(columns: {', '.join(map(str, data.columns))})",
                column=arm,
            )
        counts: dict[str, int] = {
            str(k): int(v) for k, v in data[arm].value_counts(dropna=False).items()
        }
    else:
        counts = {str(k): int(v) for k, v in dict(data).items()}
    if any(v < 0 for v in counts.values()):
        raise StatsInputError(f"arm counts must be >= 0, got {counts}")
    weights: dict[str, float]
    if expected is None:
        weights = {k: 1.0 for k in counts}
    else:
        weights = {str(k): float(v) for k, v in expected.items()}
        unplanned = sorted(set(counts) - set(weights))
        if unplanned:
            raise StatsInputError(
                f"arm(s) {', '.join(unplanned)} were observed but have no planned share; add them "
                f"to expected (planned: {', '.join(sorted(weights))})"
            )
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise StatsInputError(f"planned shares must be >= 0 and not all zero, got {weights}")
    arms = list(weights)
    obs = np.array([counts.get(a, 0) for a in arms], dtype=float)
    w = np.array([weights[a] for a in arms], dtype=float)
    total = obs.sum()
    exp = w / w.sum() * total
    observed = {a: int(o) for a, o in zip(arms, obs, strict=True)}
    expected_counts = {a: float(e) for a, e in zip(arms, exp, strict=True)}
    live = exp > 0
    if (obs[~live] > 0).any():
        chi2, p, reason = math.inf, 0.0, "users were found in an arm planned at 0%"
        return SrmResult(
            observed, expected_counts, chi2, int(live.sum()) - 1, p, threshold, True, reason=reason
        )
    if total == 0 or live.sum() < 2:
        return SrmResult(
            observed,
            expected_counts,
            math.nan,
            max(int(live.sum()) - 1, 0),
            math.nan,
            threshold,
            False,
            reason="need users in at least two planned arms to check the ratio",
        )
    chi2 = float((((obs[live] - exp[live]) ** 2) / exp[live]).sum())
    df = int(live.sum()) - 1
    p = float(_sp.chi2.sf(chi2, df))
    return SrmResult(observed, expected_counts, chi2, df, p, threshold, bool(p < threshold))


def srm_table(results: Mapping[str, SrmResult]) -> pd.DataFrame:
    """One row per named SRM check (e.g. per campaign run)."""
    rows: list[dict[str, Any]] = [
        {
            "check": name,
            "chi2": r.chi2,
            "df": r.df,
            "p_value": r.p_value,
            "flagged": r.flagged,
            "method": r.method,
            "reason": r.reason,
        }
        for name, r in results.items()
    ]
    return pd.DataFrame(rows)
