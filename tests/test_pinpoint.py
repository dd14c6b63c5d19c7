from __future__ import annotations

import pytest

from engagekit.errors import DefinitionError
from engagekit.pinpoint import enum_values, problems, validate


def test_a_single_structural_error_is_reported() -> None:
    found = problems("WriteSegmentRequest", {"Name": 1})
    assert len(found) == 1 and "Invalid type for parameter Name" in found[0]


def test_enum_values_are_checked_where_botocore_does_not() -> None:
    doc = {"Dimensions": {"Demographic": {"Platform": {"DimensionType": "BAD", "Values": ["x"]}}}}
    with pytest.raises(DefinitionError, match="'BAD' is not one of INCLUSIVE, EXCLUSIVE"):
        validate("WriteSegmentRequest", doc)


def test_numeric_members_do_not_break_the_enum_walk() -> None:
    doc = {"Dimensions": {"Metrics": {"visits": {"ComparisonOperator": "EQUAL", "Value": 3.0}}}}
    assert problems("WriteSegmentRequest", doc) == []


def test_enum_values_reads_the_service_model() -> None:
    assert "EVENT" in enum_values("Schedule", "Frequency")
