"""Pinpoint JSON: every document to_pinpoint produces is a valid WriteSegmentRequest."""

from __future__ import annotations

import pytest
from botocore.validate import ParamValidator

from engagekit.errors import DefinitionError
from engagekit.pinpoint import shape
from engagekit.sample import generate_endpoints
from engagekit.segments import (
    Segment,
    evaluate,
    from_pinpoint,
    pinpoint_problems,
    segment,
    to_pinpoint,
)


def problems(shape_name: str, doc: dict) -> list[str]:
    """botocore's ParamValidator report plus the enum check it does not make."""
    report = ParamValidator().validate(doc, shape(shape_name))
    botocore_found = report.generate_report().splitlines()[1:] if report.has_errors() else []
    return botocore_found + pinpoint_problems(doc, shape_name)


PINPOINT_SEGMENT = {
    "Name": "engaged-runners",
    "SegmentGroups": {
        "Include": "ANY",
        "Groups": [
            {
                "Type": "ALL",
                "SourceType": "ANY",
                "Dimensions": [
                    {
                        "Demographic": {
                            "Channel": {"DimensionType": "INCLUSIVE", "Values": ["EMAIL"]},
                            "Platform": {"DimensionType": "EXCLUSIVE", "Values": ["Web"]},
                        },
                        "Location": {
                            "Country": {"Values": ["DE", "FR"]},
                            "GPSPoint": {
                                "Coordinates": {"Latitude": 52.52, "Longitude": 13.405},
                                "RangeInKilometers": 800,
                            },
                        },
                        "Attributes": {
                            "interests": {"AttributeType": "CONTAINS", "Values": ["run"]}
                        },
                        "Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN", "Value": 2}},
                    }
                ],
            },
            {
                "Type": "ANY",
                "Dimensions": [
                    {"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}}},
                    {
                        "UserAttributes": {
                            "LastName": {"AttributeType": "INCLUSIVE", "Values": ["Hopper"]}
                        }
                    },
                ],
            },
        ],
    },
    "tags": {"team": "growth"},
}


def test_pinpoint_document_round_trips_and_validates() -> None:
    seg = from_pinpoint(PINPOINT_SEGMENT)
    out = to_pinpoint(seg)
    assert problems("WriteSegmentRequest", out) == []
    assert from_pinpoint(out) == seg
    assert Segment.model_validate_json(seg.model_dump_json()) == seg


def test_from_pinpoint_accepts_create_request_and_segment_response() -> None:
    wrapped = {"ApplicationId": "app", "WriteSegmentRequest": PINPOINT_SEGMENT}
    response = {
        **PINPOINT_SEGMENT,
        "Id": "0a1b",
        "ApplicationId": "app",
        "Arn": "arn:aws:mobiletargeting:us-east-1:1:apps/app/segments/0a1b",
        "CreationDate": "2026-01-01T00:00:00Z",
        "SegmentType": "DIMENSIONAL",
        "Version": 3,
    }
    assert from_pinpoint(wrapped) == from_pinpoint(PINPOINT_SEGMENT) == from_pinpoint(response)


def test_metric_between_becomes_two_anded_pinpoint_dimensions() -> None:
    seg = segment("mid").channel("EMAIL").metric_between("lifetime_value", 20, 200).build()
    out = to_pinpoint(seg)
    assert problems("WriteSegmentRequest", out) == []
    dims = out["SegmentGroups"]["Groups"][0]["Dimensions"]
    assert dims[0]["Metrics"]["lifetime_value"] == {
        "ComparisonOperator": "GREATER_THAN_OR_EQUAL",
        "Value": 20.0,
    }
    assert dims[1]["Metrics"]["lifetime_value"]["ComparisonOperator"] == "LESS_THAN_OR_EQUAL"
    df = generate_endpoints(2_000, seed=4)
    assert evaluate(from_pinpoint(out), df).equals(evaluate(seg, df))


def test_builder_segments_with_bases_and_exclusions_are_valid_pinpoint() -> None:
    seg = (
        segment("s")
        .based_on("newsletter", ("buyers", 2), how="ALL")
        .country("US")
        .active("HR_24")
        .exclude("test-users")
        .build()
    )
    out = to_pinpoint(seg, segment_ids={"newsletter": "seg-123"})
    assert problems("WriteSegmentRequest", out) == []
    sources = out["SegmentGroups"]["Groups"][0]["SourceSegments"]
    assert sources == [{"Id": "seg-123"}, {"Id": "buyers", "Version": 2}]


@pytest.mark.parametrize(
    ("builder", "path"),
    [
        (segment("x").city("Berlin"), r"Dimensions\.Location\.City.*GPSPoint"),
        (segment("x").metric("orders", ">", 1, user=True), r"Dimensions\.UserMetrics"),
        (
            segment("x").attribute("d", "2026-01-01", "2026-02-01", type="NOT_BETWEEN"),
            r"Attributes\.d\.AttributeType.*NOT_BETWEEN",
        ),
        (
            segment("x").metric_between("v", 1, 2).country("DE").match("ANY").based_on("b"),
            r"Groups\.0\.Type.*group of Type ALL",
        ),
    ],
)
def test_extensions_pinpoint_cannot_express_are_refused_with_the_path(builder, path) -> None:
    with pytest.raises(DefinitionError, match=path):
        to_pinpoint(builder.build())


def test_enum_values_are_checked_too() -> None:
    seg = from_pinpoint(PINPOINT_SEGMENT)
    doc = to_pinpoint(seg)
    doc["SegmentGroups"]["Include"] = "SOME"
    assert any("SOME" in p for p in problems("WriteSegmentRequest", doc))
    with pytest.raises(DefinitionError, match=r"SegmentGroups\.Include.*ALL, ANY or NONE|Include"):
        from_pinpoint(doc)


def test_every_pinpoint_criterion_is_reachable_from_the_builder() -> None:
    seg = (
        segment("everything")
        .channel("EMAIL", "SMS")
        .app_version("4.0.0")
        .device_type("PHONE", exclude=True)
        .make("Apple")
        .model("iPhone15,2", exclude=True)
        .platform("iOS")
        .country("US", "CA")
        .near(40.71, -74.0, km=50)
        .active("DAY_14")
        .attribute("plan", "pro")
        .attribute_not("plan", "free")
        .contains("interests", "run")
        .before("renewal", "2027-01-01")
        .after("signup", "2025-01-01T00:00:00Z")
        .on("birthday", "2026-11-27")
        .between_dates("trial", "2026-01-01", "2026-12-31")
        .user_attribute("FirstName", "Ada")
        .metric("visits", ">", 1)
        .metric("purchases", "<=", 10)
        .metric("lifetime_value", "GREATER_THAN_OR_EQUAL", 5)
        .metric("sessions", "<", 100)
        .metric("orders", "==", 2)
        .based_on("newsletter", how="ALL")
        .new_group("ANY")
        .inactive("HR_24")
        .inactive("DAY_7")
        .combine("ALL")
        .build()
    )
    doc = to_pinpoint(seg)
    assert problems("WriteSegmentRequest", doc) == []
    first = doc["SegmentGroups"]["Groups"][0]
    assert first["SourceType"] == "ALL" and first["Type"] == "ALL"
    assert len(first["Dimensions"]) == 2  # the two criteria on Attributes.plan stay ANDed sets
    assert from_pinpoint(doc) == seg
