"""Experiment statistics: honest A/B results against a holdout, from sufficient statistics.

Inputs are value objects of sums (:class:`MeanStats`, :class:`ProportionStats`,
:class:`CupedStats`, :class:`RatioStats`) that add across partitions; outputs are
:class:`Comparison` results that name the method behind every number and the reason for every
NaN.

========================  ==================================================================
compare_means             Welch t-test, Welch–Satterthwaite df; relative lift by delta method
compare_proportions       Newcombe hybrid score interval + pooled z-test, or Wald z
compare_cuped             CUPED with a pre-period covariate, theta pooled over arms
compare_ratios            ratio metrics (revenue per session) by the delta method, z interval
sequential                always-valid intervals: Howard et al. normal-mixture CS (n_star)
holm / benjamini_hochberg multiple-comparison corrections across treatments and metrics
srm                       sample-ratio-mismatch chi-square, flagged below p = 0.001
plan_sample_size/plan_mde power and minimum detectable effect for a campaign design
analyze / arm_stats       a per-user frame with an arm column -> tidy lift table (CUPED,
                          ratios, breakdown by a column, capping, one-sided, sequential)
plot_lifts                the lift table as a chart of intervals, method on every panel
format_lifts              the lift table as report strings with intervals and verdicts
========================  ==================================================================

    >>> import pandas as pd
    >>> from engagekit.stats import analyze
    >>> df = pd.DataFrame({"arm": ["holdout", "holdout", "A", "A"], "spend": [0.0, 2.0, 1.0, 5.0]})
    >>> analyze(df, metrics={"spend": "mean"})[["metric", "arm", "diff"]].to_dict("records")
    [{'metric': 'spend', 'arm': 'A', 'diff': 2.0}]
"""

from engagekit.stats._compare import (
    compare_cuped,
    compare_means,
    compare_proportions,
    compare_ratios,
    cuped_theta,
    newcombe_interval,
    wilson_interval,
)
from engagekit.stats._errors import StatsInputError
from engagekit.stats._format import format_lifts
from engagekit.stats._frame import TABLE_COLUMNS, analyze, analyze_stats, arm_stats, compare
from engagekit.stats._multiple import benjamini_hochberg, holm
from engagekit.stats._plot import plot_lifts
from engagekit.stats._power import plan_mde, plan_sample_size, power_at
from engagekit.stats._results import Comparison, PowerPlan, SrmResult
from engagekit.stats._sequential import (
    DEFAULT_N_STAR,
    always_valid_p_value,
    confidence_sequence_halfwidth,
    mixture_rho,
    sequential,
)
from engagekit.stats._srm import DEFAULT_SRM_THRESHOLD, srm, srm_table
from engagekit.stats._sufficient import CupedStats, MeanStats, ProportionStats, RatioStats

__all__ = [
    "DEFAULT_N_STAR",
    "DEFAULT_SRM_THRESHOLD",
    "TABLE_COLUMNS",
    "Comparison",
    "CupedStats",
    "MeanStats",
    "PowerPlan",
    "ProportionStats",
    "RatioStats",
    "SrmResult",
    "StatsInputError",
    "always_valid_p_value",
    "analyze",
    "analyze_stats",
    "arm_stats",
    "benjamini_hochberg",
    "compare",
    "compare_cuped",
    "compare_means",
    "compare_proportions",
    "compare_ratios",
    "confidence_sequence_halfwidth",
    "cuped_theta",
    "format_lifts",
    "holm",
    "mixture_rho",
    "newcombe_interval",
    "plan_mde",
    "plan_sample_size",
    "plot_lifts",
    "power_at",
    "sequential",
    "srm",
    "srm_table",
    "wilson_interval",
]
