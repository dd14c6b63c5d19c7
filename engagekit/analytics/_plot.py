"""Charts for analytics results: ``plot(result)`` draws what ``result.attrs["chart"]`` names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _axes(ax: Any, figsize: tuple[float, float] = (9, 4)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def plot(result: pd.DataFrame, ax: Any = None, **kwargs: Any) -> Any:
    """Draw an analytics result with the chart it was made for; returns the matplotlib Axes.

    >>> plot(usage(project))                                       # doctest: +SKIP
    """
    kind = result.attrs.get("chart", "lines")
    title = kwargs.pop("title", result.attrs.get("title"))
    drawer = _DRAWERS.get(kind)
    if drawer is None:
        raise ValueError(f"no chart {kind!r}; known: {', '.join(sorted(_DRAWERS))}")
    ax = drawer(result, ax, **kwargs)
    if title:
        ax.set_title(title)
    return ax


def _lines(df: pd.DataFrame, ax: Any, columns: list[str] | None = None, **kw: Any) -> Any:
    ax = _axes(ax)
    cols = columns or df.attrs.get("plot_columns") or list(df.select_dtypes("number").columns)
    if df.empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return ax
    df[cols].plot(ax=ax, marker="o" if len(df) < 40 else None, **kw)
    ax.set_xlabel(df.index.name or "")
    ax.grid(alpha=0.3)
    return ax


def _heatmap(df: pd.DataFrame, ax: Any, cmap: str = "viridis", **kw: Any) -> Any:
    ax = _axes(ax, (11, 3.8))
    values = df.to_numpy(dtype=float)
    im = ax.imshow(values, aspect="auto", cmap=cmap, **kw)
    ax.set_yticks(range(len(df.index)), [str(i) for i in df.index])
    ax.set_xticks(range(len(df.columns)), [str(c) for c in df.columns])
    ax.set_xlabel(df.columns.name or "")
    ax.set_ylabel(df.index.name or "")
    ax.figure.colorbar(im, ax=ax, fraction=0.03)
    return ax


def _cohorts(df: pd.DataFrame, ax: Any, **kw: Any) -> Any:
    rates = df[[c for c in df.columns if c.startswith("rate_")]]
    ax = _axes(ax, (8, max(3, 0.25 * len(rates) + 1)))
    values = rates.to_numpy(dtype=float) * 100
    im = ax.imshow(values, aspect="auto", cmap="Blues", vmin=0, **kw)
    ax.set_xticks(range(len(rates.columns)), [f"day {c[5:]}" for c in rates.columns])
    labels = [pd.Timestamp(i).strftime("%Y-%m-%d") for i in rates.index]
    step = max(1, len(labels) // 20)
    ax.set_yticks(range(0, len(labels), step), labels[::step])
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v) and len(labels) <= 40:
            ax.text(j, i, f"{v:.0f}%", ha="center", va="center", fontsize=7)
    ax.figure.colorbar(im, ax=ax, fraction=0.03, label="% of cohort")
    ax.set_ylabel("cohort (first active day)")
    return ax


def _bars(df: pd.DataFrame, ax: Any, column: str | None = None, top: int = 15, **kw: Any) -> Any:
    col = column or df.attrs.get("plot_columns", [None])[0] or df.select_dtypes("number").columns[0]
    data = df[col].head(top)[::-1]
    ax = _axes(ax, (8, max(3, 0.3 * len(data) + 1)))
    ax.barh([str(i) for i in data.index], data.to_numpy(), **kw)
    ax.set_xlabel(col)
    return ax


def _funnel(df: pd.DataFrame, ax: Any, **kw: Any) -> Any:
    ax = _axes(ax)
    if isinstance(df.index, pd.MultiIndex):  # a breakdown: conversion from step 1 per group
        by = df.index.names[0]
        table = df["conversion"].unstack(by)
        table.index = [
            f"{s}. {n}" for s, n in zip(table.index, df["name"].unstack(by).iloc[:, 0], strict=True)
        ]
        table.plot.bar(ax=ax, rot=0, **kw)
        ax.set_ylabel("conversion from step 1")
        return ax
    labels = [f"{s}. {n}" for s, n in zip(df.index, df["name"], strict=True)]
    ax.bar(labels, df["users"].to_numpy(), color="#4C72B0", **kw)
    for i, (u, c) in enumerate(zip(df["users"], df["conversion"], strict=True)):
        ax.text(i, u, f"{int(u):,}\n{c:.1%}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("users")
    ax.margins(y=0.2)
    return ax


def _campaign(df: pd.DataFrame, ax: Any, columns: list[str] | None = None, **kw: Any) -> Any:
    cols = columns or [
        c for c in ("delivery_rate", "open_rate", "click_rate", "opt_out_rate") if c in df.columns
    ]
    ax = _axes(ax)
    labels = df.index.map(lambda k: " / ".join(map(str, k)) if isinstance(k, tuple) else str(k))
    df[cols].set_axis(labels).plot.bar(ax=ax, rot=0, **kw)
    ax.set_ylabel("rate")
    ax.grid(axis="y", alpha=0.3)
    return ax


def _kpis(df: pd.DataFrame, ax: Any, **kw: Any) -> Any:
    ax = _axes(ax, (9, 0.45 * len(df) + 0.6))
    ax.axis("off")
    for i, (name, value) in enumerate(df["value"].items()):
        text = f"{value:,.3f}" if isinstance(value, float) and abs(value) < 10 else f"{value:,.0f}"
        if isinstance(value, float) and np.isnan(value):
            text = "–"
        y = 1 - (i + 0.5) / len(df)
        ax.text(0.02, y, str(name).replace("_", " "), va="center", fontsize=10)
        ax.text(0.98, y, text, va="center", ha="right", fontsize=10, weight="bold")
    return ax


_DRAWERS: dict[str, Callable[..., Any]] = {
    "lines": _lines,
    "heatmap": _heatmap,
    "cohorts": _cohorts,
    "bars": _bars,
    "funnel": _funnel,
    "campaign": _campaign,
    "kpis": _kpis,
}
