"""Always-valid inference for teams that look at results every day.

Method: the two-sided normal-mixture confidence sequence of Howard, Ramdas, McAuliffe and
Sekhon (2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences", eq. 14), in
its asymptotic form (Waudby-Smith et al., "Time-uniform central limit theory"). It is the
confidence-sequence dual of the mixture SPRT (mSPRT) with a normal mixing distribution.

With ``N`` users so far, ``sigma^2 = N * se^2`` and mixing precision ``rho``, the half-width is

    sigma * sqrt( 2 (N rho^2 + 1) / (N^2 rho^2) * log( sqrt(N rho^2 + 1) / alpha ) )

and the interval covers the true effect at every look simultaneously with probability
``1 - alpha``. The tuning parameter is ``n_star``: the total sample size at which the interval
is tightest. Fix it before the experiment starts (the planned audience of both arms is a good
choice); picking it after seeing the data voids the guarantee. ``rho`` is chosen so the
boundary is optimised at ``N = n_star``:

    rho = sqrt( (-2 log alpha + log(-2 log alpha + 1)) / n_star )

The always-valid p-value is ``min(1, 1 / mixture likelihood ratio)``; it is below alpha exactly
when the sequence excludes zero.
"""

from __future__ import annotations

import math
from dataclasses import replace

from engagekit.stats._errors import StatsInputError
from engagekit.stats._results import NAN, Comparison

DEFAULT_N_STAR = 5000.0


def mixture_rho(n_star: float, alpha: float = 0.05) -> float:
    """The mixing precision that makes the boundary tightest at ``n_star`` observations."""
    if n_star <= 0:
        raise StatsInputError(f"n_star must be > 0 (the expected total sample size), got {n_star}")
    la = -2.0 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1.0)) / n_star)


def confidence_sequence_halfwidth(
    se: float, n: float, *, alpha: float = 0.05, n_star: float = DEFAULT_N_STAR
) -> float:
    """Half-width of the always-valid interval for an estimate with standard error ``se``."""
    if not (math.isfinite(se) and se > 0 and n > 0):
        return NAN
    rho2 = mixture_rho(n_star, alpha) ** 2
    sigma = se * math.sqrt(n)
    return sigma * math.sqrt(
        2.0 * (n * rho2 + 1.0) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1.0) / alpha)
    )


def always_valid_p_value(
    estimate: float, se: float, n: float, *, alpha: float = 0.05, n_star: float = DEFAULT_N_STAR
) -> float:
    """``min(1, 1 / Lambda)`` for the normal-mixture likelihood ratio ``Lambda`` at this look."""
    if not (math.isfinite(se) and se > 0 and n > 0 and math.isfinite(estimate)):
        return NAN
    rho2 = mixture_rho(n_star, alpha) ** 2
    log_lr = estimate**2 * n * rho2 / (2.0 * se * se * (n * rho2 + 1.0)) - 0.5 * math.log1p(
        n * rho2
    )
    return min(1.0, math.exp(-log_lr))


def sequential(comparison: Comparison, *, n_star: float = DEFAULT_N_STAR) -> Comparison:
    """The always-valid version of a fixed-horizon comparison.

    Intervals for the difference and the relative lift become confidence sequences and the
    p-value becomes always-valid; the fixed-horizon numbers are kept in ``extra``. Valid for
    any :class:`Comparison` with a standard error (means, proportions, CUPED); it uses the
    normal approximation, so it needs a few hundred users per arm.

        >>> from engagekit.stats import MeanStats, compare_means
        >>> t, c = MeanStats(3461, 2422.7, 134698.29), MeanStats(3000, 1396.87, 52377.9767)
        >>> fixed = compare_means(t, c)
        >>> seq = sequential(fixed, n_star=1000)
        >>> seq.ci_high - seq.ci_low > fixed.ci_high - fixed.ci_low
        True
    """
    if comparison.alternative != "two-sided":
        raise StatsInputError(
            "always-valid intervals are two-sided here; analyse with alternative='two-sided' "
            "to look at the results sequentially"
        )
    n = comparison.n + comparison.n_control
    a = comparison.alpha
    hw = confidence_sequence_halfwidth(comparison.se, n, alpha=a, n_star=n_star)
    rel_hw = confidence_sequence_halfwidth(comparison.rel_se, n, alpha=a, n_star=n_star)
    p = always_valid_p_value(comparison.diff, comparison.se, n, alpha=a, n_star=n_star)
    return replace(
        comparison,
        ci_low=comparison.diff - hw,
        ci_high=comparison.diff + hw,
        rel_ci_low=comparison.rel_lift - rel_hw,
        rel_ci_high=comparison.rel_lift + rel_hw,
        p_value=p,
        df=math.inf,
        method=(
            f"{comparison.method}; always-valid: normal-mixture confidence sequence "
            f"(Howard et al. 2021), n_star={n_star:g}"
        ),
        extra={
            **comparison.extra,
            "n_star": n_star,
            "fixed_horizon": {
                "ci_low": comparison.ci_low,
                "ci_high": comparison.ci_high,
                "rel_ci_low": comparison.rel_ci_low,
                "rel_ci_high": comparison.rel_ci_high,
                "p_value": comparison.p_value,
            },
        },
    )
