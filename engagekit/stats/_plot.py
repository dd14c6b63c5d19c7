"""A chart of lifts with their intervals, one panel per metric."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _interval_method(method: str, relative: bool) -> str:
    """The clause of ``method`` that built the plotted interval."""
    clauses = [c.strip() for c in method.split(";")]
    if relative:
        rel = [c for c in clauses if c.startswith("relative lift:")]
        if rel:
            return rel[0].replace("relative lift: ", "")
    return clauses[0]


def plot_lifts(table: pd.DataFrame, *, relative: bool = True, axes: Any = None) -> Any:
    """Plot each row of an :func:`~engagekit.stats.analyze` table as a point and interval.

    One panel per metric, one line per comparison (``arm vs control``), a dashed line at zero;
    each panel's axis label names the interval level and the method that built it. Rows whose
    interval is NaN are drawn as a grey cross, labelled "(no interval)". Returns the axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    est, lo, hi = (
        ("rel_lift", "rel_ci_low", "rel_ci_high") if relative else ("diff", "ci_low", "ci_high")
    )
    metrics = list(dict.fromkeys(table["metric"]))
    per_metric = max((int((table["metric"] == m).sum()) for m in metrics), default=1)
    if axes is None:
        width = max(len(metrics), 1)
        _, axes = plt.subplots(
            1,
            width,
            figsize=(3.6 * width + 1.6, 0.45 * per_metric + 1.9),
            squeeze=False,
            sharey=True,
        )
        axes = axes[0]
    axes = np.atleast_1d(axes)
    for col, (ax, metric) in enumerate(zip(axes, metrics, strict=False)):
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
        ax.set_ylim(-0.6, len(rows) - 0.4)
        if col == 0:
            lead = list(table.columns[: list(table.columns).index("metric")])  # e.g. a by column
            prefix = (
                rows[lead].astype(str).agg(" · ".join, axis=1) + " · "
                if lead
                else pd.Series([""] * len(rows))
            )
            labels = [
                f"{p}{a} vs {c}" + ("" if ok else " (no interval)")
                for p, a, c, ok in zip(prefix, rows["arm"], rows["control"], has, strict=True)
            ]
            ax.set_yticks(y, labels)
        ax.set_title(metric)
        level = f"{1 - float(rows['alpha'].iloc[0]):.0%}" if len(rows) else ""
        methods = sorted({_interval_method(m, relative) for m in rows["method"]})
        ax.set_xlabel(
            f"{'relative lift' if relative else 'difference'} ({level} interval)\n"
            + "\n".join(methods),
            fontsize="small",
        )
        ax.xaxis.set_major_locator(MaxNLocator(4))
        if relative:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.0%}"))
    return axes
