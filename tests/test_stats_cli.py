"""``engagekit stats`` sub-commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engagekit.cli import main


@pytest.fixture
def experiment_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 2000
    arm = rng.choice(["holdout", "0"], size=n)
    pre = rng.gamma(2.0, 1.0, n)
    frame = pd.DataFrame(
        {
            "arm": arm,
            "converted": (rng.random(n) < np.where(arm == "0", 0.15, 0.10)).astype(int),
            "spend": pre + rng.exponential(1.0, n) + (arm == "0") * 0.2,
            "spend_pre": pre,
            "orders": rng.poisson(1.0, n) + 1,
        }
    )
    path = tmp_path / "users.csv"
    frame.to_csv(path, index=False)
    return path


def test_analyze_prints_the_lift_table_as_json(experiment_csv, capsys):
    rc = main(
        [
            "stats",
            "analyze",
            str(experiment_csv),
            "--metric",
            "converted=proportion",
            "--metric",
            "spend=mean",
            "--pre",
            "spend=spend_pre",
            "--format",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0
    rows = json.loads(out)
    assert [(r["metric"], r["arm"]) for r in rows] == [("converted", "0"), ("spend", "0")]
    assert rows[0]["method"].startswith("Newcombe")
    assert rows[1]["method"].startswith("CUPED")
    assert "no sample ratio mismatch" in err
    assert (
        main(
            [
                "stats",
                "analyze",
                str(experiment_csv),
                "--metric",
                "spend=mean",
                "--alternative",
                "greater",
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert "one-sided" in json.loads(capsys.readouterr().out)[0]["method"]


def test_analyze_takes_ratio_metrics(experiment_csv, capsys):
    rc = main(
        ["stats", "analyze", str(experiment_csv), "--ratio", "aov=spend/orders", "--format", "csv"]
    )
    out = capsys.readouterr().out
    assert rc == 0
    table = pd.read_csv(io.StringIO(out))
    assert table.loc[0, "metric"] == "aov"
    assert table.loc[0, "method"].startswith("delta-method ratio")
    assert main(["stats", "analyze", str(experiment_csv), "--ratio", "aov=spend"]) == 1
    assert "NAME=NUMERATOR/DENOMINATOR" in capsys.readouterr().err


def test_analyze_breaks_down_and_caps(experiment_csv, capsys):
    rc = main(
        [
            "stats",
            "analyze",
            str(experiment_csv),
            "--metric",
            "spend=mean",
            "--by",
            "orders",
            "--cap",
            "spend=0.99",
            "--format",
            "csv",
        ]
    )
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert rc == 0
    assert table.columns[0] == "orders"
    assert table["method"].str.contains("spend capped at the 0.99 quantile").all()


def test_analyze_without_metrics_explains_what_to_pass(experiment_csv, capsys):
    assert main(["stats", "analyze", str(experiment_csv)]) == 1
    assert "--metric conversion=proportion" in capsys.readouterr().err


def test_analyze_of_a_missing_file_is_a_user_error(tmp_path, capsys):
    assert main(["stats", "analyze", str(tmp_path / "nope.csv"), "--metric", "x=mean"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_srm_exits_2_when_the_ratio_is_broken(capsys):
    assert main(["stats", "srm", "--count", "A=5000", "--count", "holdout=4600"]) == 2
    assert "SAMPLE RATIO MISMATCH" in capsys.readouterr().out
    assert (
        main(
            [
                "stats",
                "srm",
                "--count",
                "A=900",
                "--count",
                "holdout=100",
                "--expected",
                "A=0.9",
                "--expected",
                "holdout=0.1",
            ]
        )
        == 0
    )


def test_plan_sizes_an_audience_and_reports_an_mde(capsys):
    assert (
        main(
            [
                "stats",
                "plan",
                "--metric",
                "proportion",
                "--baseline",
                "0.05",
                "--mde",
                "0.1",
                "--holdout-share",
                "0.5",
                "--json",
            ]
        )
        == 0
    )
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plan["n_holdout"] == 31231
    assert (
        main(
            [
                "stats",
                "plan",
                "--metric",
                "mean",
                "--baseline",
                "5",
                "--sd",
                "3",
                "--n-total",
                "10000",
            ]
        )
        == 0
    )
    assert "mde_abs" in capsys.readouterr().out
    assert (
        main(
            [
                "stats",
                "plan",
                "--metric",
                "proportion",
                "--baseline",
                "0.05",
                "--mde",
                "0.1",
                "--allocation",
                "holdout=10",
                "--allocation",
                "0=60",
                "--allocation",
                "1=30",
                "--json",
            ]
        )
        == 0
    )
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(plan["arm_sizes"]) == {"holdout", "0", "1"}
    assert main(["stats", "plan", "--metric", "mean", "--baseline", "5", "--sd", "3"]) == 1
    assert "exactly one of --mde" in capsys.readouterr().err
