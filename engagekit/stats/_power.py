"""Campaign design: sample size for a minimum detectable effect (MDE), and the MDE of a size.

Method: the normal approximation to the two-sample test with unpooled variances (the variance
of each arm evaluated at its own mean under the alternative), two-sided power counting both
tails, as statsmodels' ``NormalIndPower`` does. Allocation: a holdout share ``h`` of the
audience and ``treatments`` arms sharing the rest equally, so each treatment-vs-holdout
comparison has ``n_t / n_c = (1 - h) / (treatments * h)``; or any ``allocation`` of shares
per arm (Pinpoint's ``HoldoutPercent`` and treatment ``SizePercent``), where the smallest
treatment sets the size. ``variance_reduction`` (e.g. the
one CUPED reported on a previous run) shrinks the variance of a mean metric accordingly.

    >>> plan = plan_sample_size(metric="proportion", baseline=0.05, mde=0.10, holdout_share=0.5)
    >>> plan.n_holdout, plan.n_per_treatment
    (31231, 31231)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from scipy import optimize as _opt
from scipy import stats as _sp

from engagekit.stats._errors import StatsInputError
from engagekit.stats._results import PowerPlan

Alternative = Literal["two-sided", "greater"]
PowerMetric = Literal["proportion", "mean"]

METHOD = "normal approximation, unpooled variances, two-sample z power (both tails when two-sided)"


def _power(d: float, se: float, alpha: float, alternative: str) -> float:
    if alternative == "two-sided":
        z = _sp.norm.ppf(1 - alpha / 2)
        return float(_sp.norm.sf(z - d / se) + _sp.norm.cdf(-z - d / se))
    z = _sp.norm.ppf(1 - alpha)
    return float(_sp.norm.sf(z - d / se))


def _absolute(baseline: float, mde: float, relative: bool) -> float:
    return mde * baseline if relative else mde


def _shares(
    holdout_share: float,
    treatments: int,
    allocation: Mapping[str, float] | None,
    control: str,
) -> tuple[float, dict[str, float]]:
    """The holdout's share and each treatment's share of the audience."""
    if allocation is None:
        each = (1.0 - holdout_share) / treatments
        return holdout_share, {str(i): each for i in range(treatments)}
    weights = {str(k): float(v) for k, v in allocation.items()}
    if control not in weights:
        raise StatsInputError(
            f"allocation has no control arm {control!r} (arms: {', '.join(weights)}); name the "
            "holdout or pass control="
        )
    if any(v <= 0 for v in weights.values()) or len(weights) < 2:
        raise StatsInputError(
            f"allocation needs a positive share for the control and at least one treatment, "
            f"got {weights}"
        )
    total = sum(weights.values())
    shares = {k: v / total for k, v in weights.items()}
    h = shares.pop(control)
    return h, shares


@dataclass(frozen=True)
class _Design:
    """A validated design: the metric and its spread, the test, and the arms' shares."""

    metric: str
    baseline: float
    sd: float
    alpha: float
    power: float
    alternative: str
    variance_reduction: float
    control: str
    h: float
    shares: dict[str, float]

    @property
    def binding_ratio(self) -> float:
        """``n_t / n_c`` of the binding comparison: the one with the smallest treatment share."""
        return min(self.shares.values()) / self.h

    def diff_sd(self, d: float, ratio: float) -> float:
        """sqrt(n_c) * standard error of the difference, for an absolute effect ``d``."""
        if self.metric == "proportion":
            p1 = self.baseline + d
            var_c = self.baseline * (1 - self.baseline)
            var_t = p1 * (1 - p1)
        else:
            var_c = var_t = self.sd * self.sd * (1 - self.variance_reduction)
        return math.sqrt(var_c + var_t / ratio)

    def power_of(self, d: float, se: float) -> float:
        return _power(d, se, self.alpha, self.alternative)

    def plan(self, d: float, n_c: float) -> PowerPlan:
        n_hold = math.ceil(n_c - 1e-9)
        sizes = {self.control: n_hold}
        sizes.update({t: math.ceil(n_c * s / self.h - 1e-9) for t, s in self.shares.items()})
        return PowerPlan(
            metric=self.metric,
            baseline=self.baseline,
            sd=self.sd,
            mde_abs=d,
            mde_rel=d / self.baseline if self.baseline != 0 else math.nan,
            alpha=self.alpha,
            power=self.power,
            alternative=self.alternative,
            holdout_share=self.h,
            treatments=len(self.shares),
            n_holdout=n_hold,
            n_per_treatment=min(sizes[t] for t in self.shares),
            n_total=sum(sizes.values()),
            variance_reduction=self.variance_reduction,
            method=METHOD,
            arm_sizes=sizes,
        )


def _design(
    metric: str,
    baseline: float,
    sd: float | None,
    alpha: float,
    power: float,
    holdout_share: float,
    treatments: int,
    alternative: str,
    variance_reduction: float,
    allocation: Mapping[str, float] | None,
    control: str,
) -> _Design:
    """Validate the inputs, take the metric's per-user sd and split the audience into arms."""
    if metric not in ("proportion", "mean"):
        raise StatsInputError(f"metric must be 'proportion' or 'mean', got {metric!r}")
    if alternative not in ("two-sided", "greater"):
        raise StatsInputError(
            f"alternative must be 'two-sided' or 'greater' (one-sided), got {alternative!r}"
        )
    if not 0 < alpha < 1:
        raise StatsInputError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0 < power < 1:
        raise StatsInputError(f"power must be between 0 and 1 (e.g. 0.8), got {power}")
    if not 0 < holdout_share < 1:
        raise StatsInputError(
            "holdout_share must be between 0 and 1 (e.g. 0.1 for a 10% holdout), "
            f"got {holdout_share}"
        )
    if treatments < 1:
        raise StatsInputError(f"treatments must be >= 1, got {treatments}")
    if not 0 <= variance_reduction < 1:
        raise StatsInputError(f"variance_reduction must be in [0, 1), got {variance_reduction}")
    if metric == "proportion":
        if not 0 < baseline < 1:
            raise StatsInputError(
                f"a proportion baseline must be between 0 and 1 (e.g. 0.05 for 5%), got {baseline}"
            )
        sd_ = math.sqrt(baseline * (1 - baseline))
    elif sd is None or not sd > 0:
        raise StatsInputError(
            f"a mean metric needs its standard deviation per user (sd > 0), got {sd}; take it "
            "from a previous run (MeanStats.std)"
        )
    else:
        sd_ = float(sd)
    h, shares = _shares(holdout_share, treatments, allocation, control)
    return _Design(
        metric, baseline, sd_, alpha, power, alternative, variance_reduction, control, h, shares
    )


def power_at(
    *,
    metric: PowerMetric,
    baseline: float,
    mde: float,
    n_holdout: float,
    relative: bool = True,
    sd: float | None = None,
    alpha: float = 0.05,
    holdout_share: float = 0.5,
    treatments: int = 1,
    alternative: Alternative = "two-sided",
    variance_reduction: float = 0.0,
    allocation: Mapping[str, float] | None = None,
    control: str = "holdout",
) -> float:
    """The power of the weakest treatment-vs-holdout comparison with ``n_holdout`` holdout users."""
    design = _design(
        metric,
        baseline,
        sd,
        alpha,
        0.5,
        holdout_share,
        treatments,
        alternative,
        variance_reduction,
        allocation,
        control,
    )
    d = _absolute(baseline, mde, relative)
    powers = []
    for s in design.shares.values():
        se = design.diff_sd(d, s / design.h) / math.sqrt(n_holdout)
        powers.append(design.power_of(abs(d), se))
    return min(powers)


def plan_sample_size(
    *,
    metric: PowerMetric,
    baseline: float,
    mde: float,
    relative: bool = True,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    holdout_share: float = 0.5,
    treatments: int = 1,
    alternative: Alternative = "two-sided",
    variance_reduction: float = 0.0,
    allocation: Mapping[str, float] | None = None,
    control: str = "holdout",
) -> PowerPlan:
    """Users needed to detect ``mde`` (relative to ``baseline`` unless ``relative=False``).

    ``baseline`` is the holdout's conversion rate (proportion) or mean (mean, with ``sd`` the
    per-user standard deviation). The audience is split into a ``holdout_share`` and
    ``treatments`` equal arms, or by ``allocation`` (arm -> share or percent, e.g. Pinpoint's
    ``{"holdout": 10, "0": 60, "1": 30}``); every treatment-vs-holdout comparison gets at least
    the requested power, so the smallest treatment sets the size. ``arm_sizes`` lists each arm.
    For several treatments consider a smaller ``alpha`` (e.g. ``0.05 / treatments``).
    """
    design = _design(
        metric,
        baseline,
        sd,
        alpha,
        power,
        holdout_share,
        treatments,
        alternative,
        variance_reduction,
        allocation,
        control,
    )
    d = _absolute(baseline, mde, relative)
    if d == 0:
        raise StatsInputError("mde must be non-zero: no sample size detects a zero effect")
    if metric == "proportion" and not 0 < baseline + d < 1:
        raise StatsInputError(
            f"baseline {baseline} with effect {d:+g} leaves the 0..1 range; choose a smaller mde"
        )
    k = design.diff_sd(d, design.binding_ratio)

    def gap(n_c: float) -> float:
        return design.power_of(abs(d), k / math.sqrt(n_c)) - power

    hi = 2.0
    while gap(hi) < 0:
        hi *= 2.0
    lo = hi / 2.0 if hi > 2.0 else 1e-9
    n_c = float(_opt.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-12))
    return design.plan(d, n_c)


def plan_mde(
    *,
    metric: PowerMetric,
    baseline: float,
    n_total: int,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    holdout_share: float = 0.5,
    treatments: int = 1,
    alternative: Alternative = "two-sided",
    variance_reduction: float = 0.0,
    allocation: Mapping[str, float] | None = None,
    control: str = "holdout",
) -> PowerPlan:
    """The smallest positive effect an audience of ``n_total`` users detects with ``power``.

    With unequal treatment shares this is the effect the smallest treatment can detect (larger
    arms detect smaller effects).
    """
    design = _design(
        metric,
        baseline,
        sd,
        alpha,
        power,
        holdout_share,
        treatments,
        alternative,
        variance_reduction,
        allocation,
        control,
    )
    h, shares = design.h, design.shares
    if n_total < 1 + len(shares) or n_total * min(h, *shares.values()) < 1:
        raise StatsInputError(f"n_total must allow at least one user per arm, got {n_total}")
    n_c = n_total * h
    ratio = design.binding_ratio

    def gap(d: float) -> float:
        return design.power_of(d, design.diff_sd(d, ratio) / math.sqrt(n_c)) - power

    upper = (1 - baseline) * (1 - 1e-12) if metric == "proportion" else 1.0
    if metric == "mean":
        while gap(upper) < 0:
            upper *= 2.0
    elif gap(upper) < 0:
        raise StatsInputError(
            f"even the largest possible lift (to a rate of 1) is not detectable with {n_total} "
            "users at this power; enlarge the audience"
        )
    d = float(_opt.brentq(gap, 1e-15, upper, xtol=1e-15, rtol=1e-12))
    plan = design.plan(d, n_c)
    sizes = {control: n_total * h} | {t: n_total * s for t, s in shares.items()}
    floors = {a: math.floor(v + 1e-9) for a, v in sizes.items()}
    return replace(
        plan,
        n_total=n_total,
        n_holdout=floors[control],
        n_per_treatment=min(floors[t] for t in shares),
        arm_sizes=floors,
    )
