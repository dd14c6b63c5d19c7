"""The segment builder widget, driven programmatically (no browser)."""

from __future__ import annotations

import pandas as pd
import pytest

from engagekit.project import Project
from engagekit.sample import generate_endpoints
from engagekit.segments import estimate, load_segment, save_segment, segment
from engagekit.widgets import SegmentBuilderWidget


@pytest.fixture(scope="module")
def endpoints() -> pd.DataFrame:
    return generate_endpoints(1_500, seed=21)


def test_estimate_label_updates_as_controls_change(endpoints: pd.DataFrame) -> None:
    ui = SegmentBuilderWidget(endpoints, name="ui", now="2026-11-01T00:00:00Z")
    assert f"{len(endpoints):,} of {len(endpoints):,}" in ui.estimate_label.value
    ui.channel.value = ("EMAIL",)
    ui.country.value = ("DE",)
    want = estimate(segment("ui").channel("EMAIL").country("DE").build(), endpoints)
    assert ui.last_estimate == want
    assert f"{want.total:,} of" in ui.estimate_label.value
    assert "ChannelType in {EMAIL}" in ui.funnel_table.value

    ui.metric.value = "Metrics.visits"
    ui.metric_op.value = "between"
    ui.metric_value.value = 3
    ui.metric_high.value = 8
    expected = segment("ui").channel("EMAIL").country("DE").metric_between("visits", 3, 8).build()
    assert ui.segment == expected
    assert ui.last_estimate.total == estimate(expected, endpoints).total < want.total


def test_bad_input_shows_the_error_instead_of_raising(endpoints: pd.DataFrame) -> None:
    ui = SegmentBuilderWidget(endpoints)
    ui.attribute.value = "Attributes.plan"
    ui.attribute_type.value = "BEFORE"
    ui.attribute_values.value = "next week"
    assert ui.last_estimate is None
    assert "ISO 8601 date" in ui.estimate_label.value
    ui.attribute_type.value = "INCLUSIVE"
    ui.attribute_values.value = "pro, enterprise"
    assert ui.last_estimate is not None and ui.error is None


def test_exclusions_and_save_use_the_project(project: Project, endpoints: pd.DataFrame) -> None:
    save_segment(project, segment("germany").country("DE").build())
    ui = SegmentBuilderWidget(endpoints, name="abroad", project=project)
    ui.exclude.value = ("germany",)
    ui.gps_on.value = True
    ui.latitude.value, ui.longitude.value, ui.km.value = 52.52, 13.405, 1000
    assert ui.last_estimate is not None and ui.last_estimate.total > 0
    assert ui.save() == 1
    assert load_segment(project, "abroad") == ui.segment
    assert "version 1" in ui.status.value
