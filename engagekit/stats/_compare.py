"""Two-arm comparisons over sufficient statistics: Welch, Newcombe/Wilson, Wald, CUPED, ratios.

Conventions: ``diff = treatment - control``; ``rel_lift = diff / control mean`` with a
delta-method interval; intervals are two-sided at level ``1 - alpha``. A number that cannot
be computed is NaN and ``reason`` says why (an arm with fewer than two users, zero variance,
a zero control mean); nothing raises for degenerate data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from scipy import stats as _sp

from engagekit.stats._errors import StatsInputError
from engagekit.stats._results import NAN, Comparison
from engagekit.stats._sufficient import CupedStats, MeanStats, ProportionStats, RatioStats

WELCH = "Welch t-test (Welch–Satterthwaite df)"
REL_T = "relative lift: delta method, t interval"
REL_Z = "relative lift: delta method, z interval"
NEWCOMBE = "Newcombe hybrid score interval (Wilson); pooled two-proportion z-test"
WALD = "Wald z interval; unpooled z-test"

ProportionMethod = Literal["newcombe", "wald"]


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise StatsInputError(
            f"alpha must be between 0 and 1 (e.g. 0.05 for 95% intervals), got {alpha}"
        )


def _join(*reasons: str | None) -> str | None:
    parts = [r for r in reasons if r]
    return "; ".join(parts) if parts else None


Alternative = Literal["two-sided", "greater", "less"]


def _check_alternative(alternative: str, alpha: float) -> None:
    if alternative not in ("two-sided", "greater", "less"):
        raise StatsInputError(
            f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}"
        )
    if alternative != "two-sided" and not alpha < 0.5:
        raise StatsInputError(f"a one-sided test needs alpha < 0.5, got {alpha}")


def _one_sided(two_sided: Comparison, alpha: float, alternative: str) -> Comparison:
    """A one-sided result from the two-sided one computed at level ``2 * alpha``.

    The one-sided bound at level ``1 - alpha`` is the matching bound of the two-sided interval
    at ``1 - 2 alpha``; the p-value halves (or is ``1 - p/2`` against the direction), which is
    exact for the symmetric t and z statistics used here.
    """
    c = two_sided
    stat, p2 = c.statistic, c.p_value
    if math.isfinite(stat) and math.isfinite(p2):
        favoured = stat > 0 if alternative == "greater" else stat < 0
        p = p2 / 2.0 if favoured else 1.0 - p2 / 2.0
    else:
        p = NAN
    words = (
        "treatment greater than control"
        if alternative == "greater"
        else ("treatment less than control")
    )
    bounds = (
        {"ci_high": math.inf, "rel_ci_high": math.inf}
        if alternative == "greater"
        else {"ci_low": -math.inf, "rel_ci_low": -math.inf}
    )
    return replace(
        c,
        alpha=alpha,
        p_value=p,
        alternative=alternative,
        method=f"{c.method}; one-sided ({words})",
        **bounds,  # type: ignore[arg-type]
    )


def _t_quantile(alpha: float, df: float) -> float:
    return float(_sp.t.ppf(1.0 - alpha / 2.0, df)) if math.isfinite(df) else _z(alpha)


def _z(alpha: float) -> float:
    return float(_sp.norm.ppf(1.0 - alpha / 2.0))


def _welch_df(a: float, b: float, n_t: float, n_c: float) -> float:
    """Welch–Satterthwaite degrees of freedom for variances-of-means ``a`` and ``b``."""
    scale = max(a, b)
    if not scale > 0:
        return NAN
    a, b = a / scale, b / scale  # scale-free, so tiny or huge variances do not under/overflow
    den = 0.0
    if a > 0:
        den += a * a / (n_t - 1)
    if b > 0:
        den += b * b / (n_c - 1)
    return (a + b) ** 2 / den


def _relative(
    diff: float, m_c: float, var_diff: float, var_mc: float, cov_diff_mc: float
) -> tuple[float, float, str | None]:
    """``diff / m_c`` and its delta-method standard error.

    ``var_diff`` is the variance of ``diff``, ``var_mc`` that of the control mean and
    ``cov_diff_mc`` their covariance (``-var_mc`` for a plain difference of independent arms,
    which gives the textbook ``var_t/(n_t m_c^2) + m_t^2 var_c/(n_c m_c^4)``).
    """
    if not math.isfinite(m_c) or m_c == 0.0:
        return NAN, NAN, "control mean is zero: relative lift is undefined"
    rel = diff / m_c
    # (var_diff + r^2 var_mc - 2 r cov) / m_c^2, written to avoid under/overflow of m_c powers
    inner = var_diff + rel * rel * var_mc - 2.0 * rel * cov_diff_mc
    se = math.sqrt(inner) / abs(m_c) if inner >= 0 else NAN
    if not (math.isfinite(rel) and math.isfinite(se)):
        return NAN, NAN, "control mean is too close to zero: relative lift is not finite"
    return rel, se, None


@dataclass(frozen=True)
class _Arms:
    """What every result of one comparison shares: labels, sizes, arm means, level, method."""

    metric: str
    arm: str
    control: str
    kind: str
    n_t: int
    n_c: int
    m_t: float
    m_c: float
    alpha: float
    method: str

    def result(
        self,
        *,
        diff: float,
        se: float,
        ci: tuple[float, float],
        rel: float,
        rel_se: float,
        rel_ci: tuple[float, float],
        p_value: float,
        statistic: float,
        df: float,
        reason: str | None,
    ) -> Comparison:
        return Comparison(
            metric=self.metric,
            arm=self.arm,
            control=self.control,
            kind=self.kind,
            n=self.n_t,
            n_control=self.n_c,
            mean=self.m_t,
            mean_control=self.m_c,
            diff=diff,
            se=se,
            ci_low=ci[0],
            ci_high=ci[1],
            rel_lift=rel,
            rel_se=rel_se,
            rel_ci_low=rel_ci[0],
            rel_ci_high=rel_ci[1],
            p_value=p_value,
            statistic=statistic,
            df=df,
            alpha=self.alpha,
            method=self.method,
            reason=reason,
        )

    def blank(self, reason: str) -> Comparison:
        """The means and their plain difference, with every interval and test left NaN."""
        diff = self.m_t - self.m_c
        rel = diff / self.m_c if math.isfinite(self.m_c) and self.m_c != 0 else NAN
        return self.result(
            diff=diff,
            se=NAN,
            ci=(NAN, NAN),
            rel=rel,
            rel_se=NAN,
            rel_ci=(NAN, NAN),
            p_value=NAN,
            statistic=NAN,
            df=NAN,
            reason=reason,
        )


def _around(centre: float, q: float, se: float) -> tuple[float, float]:
    return centre - q * se, centre + q * se


def _z_p_value(stat: float) -> float:
    return float(2.0 * _sp.norm.sf(abs(stat)))


def _too_small(arms: _Arms, minimum: int) -> str | None:
    sizes = ((arms.arm, arms.n_t), (arms.control, arms.n_c))
    small = [f"{name!r} has n={n}" for name, n in sizes if n < minimum]
    if not small:
        return None
    return f"fewer than {minimum} users per arm ({', '.join(small)}): no variance, no interval"


def _welch_from_moments(
    arms: _Arms,
    *,
    v_t: float,
    v_c: float,
    diff: float,
    var_mc: float | None = None,
    cov_diff_mc: float | None = None,
) -> Comparison:
    """Welch test and intervals for a difference whose per-arm unit variances are v_t, v_c."""
    a, b = v_t / arms.n_t, v_c / arms.n_c
    se2 = a + b
    if se2 <= 0.0:
        blank = arms.blank(
            "zero variance in both arms (every user has the same value): no interval or p-value"
        )
        return replace(blank, diff=diff)
    se = math.sqrt(se2)
    df = _welch_df(a, b, arms.n_t, arms.n_c)
    q = _t_quantile(arms.alpha, df)
    t_stat = diff / se
    p = float(2.0 * _sp.t.sf(abs(t_stat), df))
    var_mc = b if var_mc is None else var_mc
    cov = -var_mc if cov_diff_mc is None else cov_diff_mc
    rel, rel_se, rel_reason = _relative(diff, arms.m_c, se2, var_mc, cov)
    return arms.result(
        diff=diff,
        se=se,
        ci=_around(diff, q, se),
        rel=rel,
        rel_se=rel_se,
        rel_ci=_around(rel, q, rel_se),
        p_value=p,
        statistic=t_stat,
        df=df,
        reason=rel_reason,
    )


def _checked_or_one_sided(
    compare_fn: Callable[..., Comparison],
    treatment: object,
    control: object,
    alpha: float,
    alternative: str,
    **options: object,
) -> Comparison | None:
    """Check ``alpha`` and ``alternative``; for a one-sided test, the finished result.

    ``None`` means two-sided: the caller computes it. A one-sided result is derived from the
    two-sided one at level ``2 * alpha`` (see :func:`_one_sided`).
    """
    _check_alpha(alpha)
    _check_alternative(alternative, alpha)
    if alternative == "two-sided":
        return None
    both = compare_fn(treatment, control, alpha=2 * alpha, **options)
    return _one_sided(both, alpha, alternative)


def compare_means(
    treatment: MeanStats,
    control: MeanStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    metric: str = "",
    arm_name: str = "treatment",
    control_name: str = "control",
) -> Comparison:
    """Welch's unequal-variance t-test of a per-user mean, with a delta-method relative lift.

    >>> t = MeanStats.from_values([2.0, 3.0, 4.0])
    >>> c = MeanStats.from_values([1.0, 2.0, 3.0])
    >>> r = compare_means(t, c)
    >>> r.diff, round(r.p_value, 4), r.method.split(" (")[0]
    (1.0, 0.2879, 'Welch t-test')
    """
    labels = {"metric": metric, "arm_name": arm_name, "control_name": control_name}
    one_sided = _checked_or_one_sided(
        compare_means, treatment, control, alpha, alternative, **labels
    )
    if one_sided is not None:
        return one_sided
    arms = _Arms(
        metric,
        arm_name,
        control_name,
        "mean",
        treatment.n,
        control.n,
        treatment.mean,
        control.mean,
        alpha,
        f"{WELCH}; {REL_T}",
    )
    small = _too_small(arms, 2)
    if small:
        return arms.blank(small)
    return _welch_from_moments(
        arms,
        v_t=treatment.variance,
        v_c=control.variance,
        diff=treatment.mean - control.mean,
    )


def wilson_interval(successes: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of one proportion; ``(nan, nan)`` when ``n == 0``.

    >>> lo, hi = wilson_interval(0, 10)
    >>> lo, round(hi, 4)
    (0.0, 0.2775)
    """
    if n <= 0:
        return NAN, NAN
    z = _z(alpha)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    treatment: ProportionStats, control: ProportionStats, *, alpha: float = 0.05
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``p_treatment - p_control`` (method 10, 1998)."""
    p1, p0 = treatment.rate, control.rate
    l1, u1 = wilson_interval(treatment.successes, treatment.n, alpha=alpha)
    l0, u0 = wilson_interval(control.successes, control.n, alpha=alpha)
    d = p1 - p0
    return (
        max(-1.0, d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)),
        min(1.0, d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)),
    )


def compare_proportions(
    treatment: ProportionStats,
    control: ProportionStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: ProportionMethod = "newcombe",
    metric: str = "",
    arm_name: str = "treatment",
    control_name: str = "control",
) -> Comparison:
    """Difference of two proportions, its interval and p-value, and the relative lift.

    ``method="newcombe"`` (default): Newcombe's hybrid score interval built from Wilson
    intervals, and the pooled two-proportion z-test (the score test). ``method="wald"``: the
    Wald interval and the unpooled z-test. The relative lift uses the delta method with a
    normal (z) interval in both cases.

        >>> r = compare_proportions(ProportionStats(1000, 120), ProportionStats(1000, 100))
        >>> round(r.diff, 3), round(r.ci_low, 4), round(r.p_value, 4)
        (0.02, -0.0075, 0.1529)
    """
    labels = {"metric": metric, "arm_name": arm_name, "control_name": control_name}
    one_sided = _checked_or_one_sided(
        compare_proportions, treatment, control, alpha, alternative, method=method, **labels
    )
    if one_sided is not None:
        return one_sided
    if method not in ("newcombe", "wald"):
        raise StatsInputError(f"proportion method must be 'newcombe' or 'wald', got {method!r}")
    label = (NEWCOMBE if method == "newcombe" else WALD) + f"; {REL_Z}"
    n_t, n_c = treatment.n, control.n
    p1, p0 = treatment.rate, control.rate
    arms = _Arms(metric, arm_name, control_name, "proportion", n_t, n_c, p1, p0, alpha, label)
    small = _too_small(arms, 1)
    if small:
        return arms.blank(small)
    z = _z(alpha)
    diff = p1 - p0
    v1, v0 = treatment.variance, control.variance
    se = math.sqrt(v1 / n_t + v0 / n_c)
    reasons: list[str | None] = []
    if method == "newcombe":
        lo, hi = newcombe_interval(treatment, control, alpha=alpha)
        pooled = (treatment.successes + control.successes) / (n_t + n_c)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
        if se0 > 0:
            stat = diff / se0
        else:
            stat = NAN
            reasons.append("every user in both arms has the same outcome: no p-value")
    else:
        if se > 0:
            lo, hi = _around(diff, z, se)
            stat = diff / se
        else:
            lo = hi = stat = NAN
            reasons.append("both observed rates are 0 or 1: the Wald interval is degenerate")
    p = _z_p_value(stat) if math.isfinite(stat) else NAN
    rel, rel_se, rel_reason = _relative(diff, p0, se * se, v0 / n_c, -v0 / n_c)
    reasons.append(rel_reason)
    if math.isfinite(rel) and rel_se > 0:
        rel_lo, rel_hi = _around(rel, z, rel_se)
    else:
        rel_lo = rel_hi = NAN
        if math.isfinite(rel):
            reasons.append("relative lift has zero estimated variance: no interval")
    return arms.result(
        diff=diff,
        se=se,
        ci=(lo, hi),
        rel=rel,
        rel_se=rel_se,
        rel_ci=(rel_lo, rel_hi),
        p_value=p,
        statistic=stat,
        df=math.inf,
        reason=_join(*reasons),
    )


def cuped_theta(treatment: CupedStats, control: CupedStats) -> float:
    """CUPED's ``theta = cov(x, y) / var(x)`` estimated on both arms pooled; NaN if var(x) = 0."""
    both = treatment + control
    var_x = both.pre.variance
    if not (var_x > 0):
        return NAN
    return both.covariance / var_x


def compare_cuped(
    treatment: CupedStats,
    control: CupedStats,
    *,
    theta: float | None = None,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    metric: str = "",
    arm_name: str = "treatment",
    control_name: str = "control",
) -> Comparison:
    """CUPED (Deng et al. 2013): Welch's test on ``y - theta (x - mean(x))``.

    ``theta`` defaults to the pooled estimate over both arms (:func:`cuped_theta`). The
    result reports ``theta`` and ``variance_reduction`` (1 - adjusted / unadjusted variance
    of the difference). The relative lift is the adjusted difference over the control's raw
    mean, with a delta-method interval that accounts for their covariance.
    """
    labels = {"metric": metric, "arm_name": arm_name, "control_name": control_name}
    one_sided = _checked_or_one_sided(
        compare_cuped, treatment, control, alpha, alternative, theta=theta, **labels
    )
    if one_sided is not None:
        return one_sided
    est = theta is None
    th = cuped_theta(treatment, control) if est else float(theta)  # type: ignore[arg-type]
    method = (
        f"CUPED ({'pooled theta' if est else 'fixed theta'}) + {WELCH}; "
        "relative lift: delta method on adjusted diff / control mean, t interval"
    )
    n_t, n_c = treatment.n, control.n
    m_t, m_c = treatment.post.mean, control.post.mean
    arms = _Arms(metric, arm_name, control_name, "mean", n_t, n_c, m_t, m_c, alpha, method)
    small = _too_small(arms, 2)
    if small:
        return arms.blank(small)
    reason = None
    if not math.isfinite(th):
        th = 0.0
        reason = "the pre-period covariate has zero variance: no adjustment (theta = 0)"

    def adjusted_variance(s: CupedStats) -> float:
        v = s.post.variance + th * th * s.pre.variance - 2.0 * th * s.covariance
        return max(v, 0.0)

    v_t, v_c = adjusted_variance(treatment), adjusted_variance(control)
    diff = (m_t - m_c) - th * (treatment.pre.mean - control.pre.mean)
    cov_diff_mc = -(control.post.variance - th * control.covariance) / n_c
    result = _welch_from_moments(
        arms,
        v_t=v_t,
        v_c=v_c,
        diff=diff,
        var_mc=control.post.variance / n_c,
        cov_diff_mc=cov_diff_mc,
    )
    raw_var = treatment.post.variance / n_t + control.post.variance / n_c
    reduction = 1.0 - result.se**2 / raw_var if raw_var > 0 and math.isfinite(result.se) else NAN
    pooled_x = (treatment + control).pre.mean
    return replace(
        result,
        theta=th,
        variance_reduction=reduction,
        reason=_join(reason, result.reason),
        extra={
            "adjusted_mean": m_t - th * (treatment.pre.mean - pooled_x),
            "adjusted_mean_control": m_c - th * (control.pre.mean - pooled_x),
        },
    )


def compare_ratios(
    treatment: RatioStats,
    control: RatioStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    metric: str = "",
    arm_name: str = "treatment",
    control_name: str = "control",
) -> Comparison:
    """Difference of two ratio metrics by the delta method (Deng, Knoblich & Lu 2018), z interval.

    Each arm's ratio ``sum(num) / sum(den)`` gets a delta-method variance from the per-user
    sums and cross-products (users are the independent units); the difference and the relative
    lift ``R_t / R_c - 1`` then use normal intervals.

        >>> t = RatioStats.from_values([3.0, 1.0, 4.0, 0.0], [2.0, 1.0, 2.0, 1.0])
        >>> c = RatioStats.from_values([1.0, 2.0, 0.0, 1.0], [2.0, 2.0, 1.0, 1.0])
        >>> r = compare_ratios(t, c)
        >>> round(r.diff, 4), r.method.split(" (")[0]
        (0.6667, 'delta-method ratio')
    """
    labels = {"metric": metric, "arm_name": arm_name, "control_name": control_name}
    one_sided = _checked_or_one_sided(
        compare_ratios, treatment, control, alpha, alternative, **labels
    )
    if one_sided is not None:
        return one_sided
    method = (
        "delta-method ratio (Deng et al. 2018), z-test and z interval; "
        "relative lift: delta method, z interval"
    )
    n_t, n_c = treatment.n, control.n
    r_t, r_c = treatment.ratio, control.ratio
    arms = _Arms(metric, arm_name, control_name, "ratio", n_t, n_c, r_t, r_c, alpha, method)
    small = _too_small(arms, 2)
    if small:
        return arms.blank(small)
    zero_den = [
        name for name, s in ((arm_name, treatment), (control_name, control)) if s.sum_den == 0
    ]
    if zero_den:
        return arms.blank(
            f"the denominator sums to zero in {', '.join(map(repr, zero_den))}: "
            "the ratio is undefined"
        )
    v_t, v_c = treatment.ratio_variance, control.ratio_variance
    diff = r_t - r_c
    se2 = v_t + v_c
    if not se2 > 0:
        return arms.blank("zero variance in both arms: no interval or p-value")
    se = math.sqrt(se2)
    z = _z(alpha)
    stat = diff / se
    rel, rel_se, rel_reason = _relative(diff, r_c, se2, v_c, -v_c)
    return arms.result(
        diff=diff,
        se=se,
        ci=_around(diff, z, se),
        rel=rel,
        rel_se=rel_se,
        rel_ci=_around(rel, z, rel_se),
        p_value=_z_p_value(stat),
        statistic=stat,
        df=math.inf,
        reason=rel_reason,
    )
