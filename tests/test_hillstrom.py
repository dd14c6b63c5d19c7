"""The Hillstrom e-mail experiment (a real holdout) analysed with engagekit.stats.

Published whole-data means (../shared/README.md): visit 0.14678, conversion 0.00903,
spend 1.05091. Every lift is checked against scipy / statsmodels on the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, shared_path
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from engagekit import stats

CONTROL = "No E-Mail"
ARMS = ["Mens E-Mail", "Womens E-Mail"]
METRICS = {"visit": "proportion", "conversion": "proportion", "spend": "mean"}


@pytest.fixture(scope="module")
def hillstrom() -> pd.DataFrame:
    return pd.read_csv(shared_path("datasets", "hillstrom", "hillstrom.csv"))


@pytest.fixture(scope="module")
def lifts(hillstrom: pd.DataFrame) -> pd.DataFrame:
    return stats.analyze(hillstrom, arm="segment", control=CONTROL, metrics=METRICS)


def test_whole_data_means_match_the_published_figures(hillstrom):
    assert len(hillstrom) == 64_000
    published = {"visit": 0.14678, "conversion": 0.00903, "spend": 1.05091}
    for metric, value in published.items():
        s = stats.MeanStats.from_values(hillstrom[metric])
        assert round(s.mean, 5) == value
    # the per-arm sufficient statistics add up to the whole
    per_arm = stats.arm_stats(hillstrom, arm="segment", metrics={"spend": "mean"})["spend"]
    total = sum(per_arm.values(), stats.MeanStats(0, 0.0, 0.0))
    whole = stats.MeanStats.from_values(hillstrom["spend"])
    assert total.n == whole.n
    assert (total.sum, total.sum_sq) == pytest.approx((whole.sum, whole.sum_sq), rel=1e-12)


def test_three_equal_arms_show_no_sample_ratio_mismatch(hillstrom):
    check = stats.srm(hillstrom, arm="segment")
    counts = hillstrom["segment"].value_counts()
    ref = sps.chisquare(counts.to_numpy())
    assert check.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert check.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert check.df == 2
    assert not check.flagged


def test_lift_table_has_each_email_arm_against_the_holdout(lifts):
    assert list(zip(lifts.metric, lifts.arm, strict=True)) == [
        (m, a) for m in METRICS for a in ARMS
    ]
    assert (lifts["control"] == CONTROL).all()
    assert lifts["method"].notna().all()
    assert lifts["reason"].isna().all()


@pytest.mark.parametrize("metric", ["visit", "conversion"])
@pytest.mark.parametrize("arm", ARMS)
def test_proportion_lifts_match_statsmodels(hillstrom, lifts, metric, arm):
    row = lifts[(lifts.metric == metric) & (lifts.arm == arm)].iloc[0]
    t = hillstrom.loc[hillstrom.segment == arm, metric]
    c = hillstrom.loc[hillstrom.segment == CONTROL, metric]
    k1, n1, k0, n0 = int(t.sum()), len(t), int(c.sum()), len(c)
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
    assert row["n"] == n1 and row["n_control"] == n0
    assert row["diff"] == pytest.approx(k1 / n1 - k0 / n0, abs=1e-15)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    assert row["p_value"] == pytest.approx(proportions_ztest([k1, k0], [n1, n0])[1], rel=1e-8)
    assert row["rel_lift"] == pytest.approx((k1 / n1) / (k0 / n0) - 1, rel=1e-12)


@pytest.mark.parametrize("arm", ARMS)
def test_spend_lift_matches_scipy_welch(hillstrom, lifts, arm):
    row = lifts[(lifts.metric == "spend") & (lifts.arm == arm)].iloc[0]
    t = hillstrom.loc[hillstrom.segment == arm, "spend"].to_numpy()
    c = hillstrom.loc[hillstrom.segment == CONTROL, "spend"].to_numpy()
    ref = sps.ttest_ind(t, c, equal_var=False)
    ci = ref.confidence_interval()
    assert row["diff"] == pytest.approx(t.mean() - c.mean(), rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-8)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
    assert row["df"] == pytest.approx(ref.df, rel=1e-8)


def test_corrections_match_statsmodels_and_every_email_lifts_every_metric(lifts):
    p = lifts["p_value"].to_numpy()
    assert lifts["p_holm"].to_numpy() == pytest.approx(multipletests(p, method="holm")[1])
    assert lifts["p_bh"].to_numpy() == pytest.approx(multipletests(p, method="fdr_bh")[1])
    # the published story: both e-mails beat the holdout on all three metrics, Mens most
    assert (lifts["ci_low"] > 0).all()
    assert (lifts["p_holm"] < 0.05).all()
    by = lifts.set_index(["metric", "arm"])["rel_lift"]
    for metric in METRICS:
        assert by[(metric, "Mens E-Mail")] > by[(metric, "Womens E-Mail")]


def test_cuped_on_last_years_spend_matches_welch_on_the_adjusted_spend(hillstrom):
    table = stats.analyze(
        hillstrom, arm="segment", control=CONTROL, metrics={"spend": "mean"}, pre="history"
    )
    for arm in ARMS:
        # theta is pooled over the two arms being compared
        pair = hillstrom[hillstrom.segment.isin([arm, CONTROL])]
        x, y = pair["history"].to_numpy(), pair["spend"].to_numpy()
        theta = np.cov(x, y, ddof=1)[0, 1] / x.var(ddof=1)
        adjusted = y - theta * (x - x.mean())
        row = table[table.arm == arm].iloc[0]
        t = adjusted[(pair.segment == arm).to_numpy()]
        c = adjusted[(pair.segment == CONTROL).to_numpy()]
        ref = sps.ttest_ind(t, c, equal_var=False)
        assert row["theta"] == pytest.approx(theta, rel=1e-9)
        assert row["diff"] == pytest.approx(t.mean() - c.mean(), rel=1e-9)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
        assert row["variance_reduction"] >= 0


def test_always_valid_intervals_contain_the_fixed_horizon_ones(hillstrom, lifts):
    always = stats.analyze(
        hillstrom,
        arm="segment",
        control=CONTROL,
        metrics=METRICS,
        sequential_looks=True,
        n_star=64_000,
    )
    assert (always["ci_low"] <= lifts["ci_low"]).all()
    assert (always["ci_high"] >= lifts["ci_high"]).all()


# tests/test_notebooks.py executes every notebook on its defaults (here: the real data); this
# file checks the other path, a clone without ../shared.
NOTEBOOK = REPO / "notebooks" / "06_hillstrom_case_study.ipynb"


@pytest.mark.slow
@pytest.mark.notebook
def test_case_study_notebook_skips_with_a_clear_message_without_the_data(tmp_path: Path):
    import papermill

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"HILLSTROM_CSV": str(tmp_path / "absent.csv")},
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )
    text = "".join(
        "".join(o.get("text", ""))
        for c in json.loads(out.read_text(encoding="utf-8"))["cells"]
        for o in c.get("outputs", [])
    )
    assert "SKIPPED: the Hillstrom data set is not at" in text
