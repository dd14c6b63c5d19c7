"""Multiple-comparison corrections across treatments and metrics.

NaN p-values (comparisons that could not be computed) are left out of the family and stay NaN.

    >>> holm([0.01, 0.04, 0.03])
    array([0.03, 0.06, 0.06])
    >>> benjamini_hochberg([0.01, 0.04, 0.03])
    array([0.03, 0.04, 0.04])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _prepare(p_values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(p_values, dtype=float).ravel()
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    return p, valid, order


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (controls the family-wise error rate)."""
    p, valid, order = _prepare(p_values)
    out = np.full(p.shape, np.nan)
    m = valid.size
    if m == 0:
        return out
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (controls the false discovery rate)."""
    p, valid, order = _prepare(p_values)
    out = np.full(p.shape, np.nan)
    m = valid.size
    if m == 0:
        return out
    scaled = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out[order] = adj
    return out
