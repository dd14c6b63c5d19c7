"""Result value objects: every number travels with the name of the method that produced it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

MetricKind = Literal["mean", "proportion"]

NAN = math.nan


@dataclass(frozen=True)
class Comparison:
    """One treatment-vs-control comparison of one metric.

    ``diff`` is treatment minus control with its ``(ci_low, ci_high)`` interval; ``rel_lift``
    is ``diff / control mean`` with its interval; ``p_value`` tests ``diff == 0`` against
    ``alternative`` ("two-sided", or one-sided "greater" / "less" with an infinite bound).
    ``method`` names the test and the interval construction; ``reason`` says why a number is
    NaN.
    """

    metric: str
    arm: str
    control: str
    kind: str
    n: int
    n_control: int
    mean: float
    mean_control: float
    diff: float
    se: float
    ci_low: float
    ci_high: float
    rel_lift: float
    rel_se: float
    rel_ci_low: float
    rel_ci_high: float
    p_value: float
    statistic: float
    df: float
    alpha: float
    method: str
    reason: str | None = None
    theta: float | None = None
    variance_reduction: float | None = None
    alternative: str = "two-sided"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __str__(self) -> str:
        def num(v: float) -> str:
            return (
                f"{v:.4g}"
                if math.isfinite(v)
                else ("inf" if v == math.inf else "-inf" if v == -math.inf else "n/a")
            )

        def pct(v: float) -> str:
            return f"{v:+.1%}" if math.isfinite(v) else num(v)

        level = f"{1 - self.alpha:.0%}"
        name = f"{self.metric}: " if self.metric else ""
        text = (
            f"{name}{self.arm} vs {self.control}: {num(self.mean)} vs {num(self.mean_control)}, "
            f"diff {num(self.diff)} [{num(self.ci_low)}, {num(self.ci_high)}], "
            f"lift {pct(self.rel_lift)} [{pct(self.rel_ci_low)}, {pct(self.rel_ci_high)}] "
            f"({level}), p={num(self.p_value)}; {self.method}"
        )
        return f"{text}; note: {self.reason}" if self.reason else text

    @property
    def significant(self) -> bool:
        """``p_value < alpha`` (False when the p-value is NaN)."""
        return bool(self.p_value < self.alpha)

    def with_labels(
        self, *, metric: str | None = None, arm: str | None = None, control: str | None = None
    ) -> Comparison:
        """A copy with other metric / arm / control labels."""
        return replace(
            self,
            metric=self.metric if metric is None else metric,
            arm=self.arm if arm is None else arm,
            control=self.control if control is None else control,
        )

    def to_dict(self) -> dict[str, Any]:
        """A flat dict (without ``extra``), one row of :func:`engagekit.stats.analyze`."""
        row = asdict(self)
        row.pop("extra")
        return row


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio-mismatch check: Pearson chi-square of observed arm sizes vs the plan."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    df: int
    p_value: float
    threshold: float
    flagged: bool
    method: str = "Pearson chi-square goodness of fit"
    reason: str | None = None

    def __str__(self) -> str:
        if self.reason and not self.flagged:
            return f"sample ratio not checked: {self.reason} ({self.method})"
        verdict = (
            "SAMPLE RATIO MISMATCH: the allocation is broken, do not trust the lifts"
            if self.flagged
            else "no sample ratio mismatch detected"
        )
        return (
            f"{verdict} (chi2={self.chi2:.3f}, df={self.df}, p={self.p_value:.3g}, "
            f"flag below {self.threshold:g}; {self.method})"
        )


@dataclass(frozen=True)
class PowerPlan:
    """A campaign design: sample sizes and the minimum detectable effect they buy.

    ``n_holdout`` and ``n_per_treatment`` are what each treatment-vs-holdout comparison needs;
    ``n_total`` is the audience for all arms together.
    """

    metric: str
    baseline: float
    sd: float
    mde_abs: float
    mde_rel: float
    alpha: float
    power: float
    alternative: str
    holdout_share: float
    treatments: int
    n_holdout: int
    n_per_treatment: int
    n_total: int
    variance_reduction: float
    method: str
    arm_sizes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A dict of the plan (``arm_sizes`` stays a dict)."""
        return asdict(self)
