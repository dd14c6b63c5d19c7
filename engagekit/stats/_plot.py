"""A chart of lifts with their intervals, one panel per metric."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def plot_lifts(table: pd.DataFrame, *, relative: bool = True, axes: Any = None) -> Any:
    """Plot each row of an :func:`~engagekit.stats.analyze` table as a point and interval.

    One panel per metric, one line per comparison (``arm vs control``), a dashed line at zero;
    each panel's axis label names the interval level and the method. Rows whose interval is
    NaN are drawn as a point only, labelled with "(no interval)".
    Returns the matplotlib axes.
    """
    import matplotlib.pyplot as plt

    est, lo, hi = (
        ("rel_lift", "rel_ci_low", "rel_ci_high") if relative else ("diff", "ci_low", "ci_high")
    )
    metrics = list(dict.fromkeys(table["metric"]))
    if axes is None:
        _, axes = plt.subplots(
            1,
            max(len(metrics), 1),
            figsize=(4.2 * max(len(metrics), 1), 0.6 * len(table) + 1.8),
            squeeze=False,
        )
        axes = axes[0]
    axes = np.atleast_1d(axes)
    for ax, metric in zip(axes, metrics, strict=False):
        rows = table[table["metric"] == metric].reset_index(drop=True)
        y = np.arange(len(rows))[::-1]
        point = rows[est].to_numpy(dtype=float)
        low = rows[lo].to_numpy(dtype=float)
        high = rows[hi].to_numpy(dtype=float)
        has = np.isfinite(low) & np.isfinite(high)
        ax.errorbar(
            point[has],
            y[has],
            xerr=[point[has] - low[has], high[has] - point[has]],
            fmt="o",
            capsize=4,
        )
        ax.plot(point[~has], y[~has], "x", color="grey")
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1)
        labels = [
            f"{a} vs {c}" + ("" if ok else " (no interval)")
            for a, c, ok in zip(rows["arm"], rows["control"], has, strict=True)
        ]
        ax.set_yticks(y, labels)
        ax.set_title(metric)
        level = f"{1 - float(rows['alpha'].iloc[0]):.0%}" if len(rows) else ""
        methods = sorted({m.split(";")[0] for m in rows["method"]})
        ax.set_xlabel(
            f"{'relative lift' if relative else 'difference'} ({level} interval)\n"
            + "\n".join(methods),
            fontsize="small",
        )
        if relative:
            ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:+.0%}"))
    return axes
