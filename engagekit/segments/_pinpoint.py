"""Pinpoint JSON: a segment to and from CreateSegment's ``WriteSegmentRequest``.

``to_pinpoint`` refuses engagekit's extensions with the path of the field and what to use
instead, splits a metric BETWEEN into two ANDed dimension sets where Pinpoint can express it,
and validates the document against botocore's Pinpoint model (enums included).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engagekit import pinpoint
from engagekit.errors import DefinitionError
from engagekit.segments._model import Segment, SegmentDemographics, SegmentLocation

_RESPONSE_ONLY = {
    "Id",
    "Arn",
    "ApplicationId",
    "CreationDate",
    "LastModifiedDate",
    "SegmentType",
    "Version",
    "ImportDefinition",
}


def from_pinpoint(document: Mapping[str, Any]) -> Segment:
    """A Segment from a WriteSegmentRequest, a CreateSegment request
    (``{"WriteSegmentRequest": ...}``) or a SegmentResponse (``GetSegment``'s answer)."""
    doc = dict(document)
    for wrapper in ("WriteSegmentRequest", "SegmentResponse"):
        if wrapper in doc and isinstance(doc[wrapper], Mapping):
            doc = dict(doc[wrapper])
    body = {k: v for k, v in doc.items() if k not in _RESPONSE_ONLY}
    if "Name" not in body:
        body["Name"] = doc.get("Id") or ""
    return Segment.model_validate(body)


def to_pinpoint(
    segment: Segment, *, segment_ids: Mapping[str, str] | None = None, validate: bool = True
) -> dict[str, Any]:
    """The segment as a Pinpoint ``WriteSegmentRequest`` dict.

    Base segments are referenced by name; ``segment_ids`` maps names to Pinpoint segment ids.

        >>> from engagekit.segments import segment
        >>> to_pinpoint(segment("de").country("DE").build())["Dimensions"]["Location"]
        {'Country': {'DimensionType': 'INCLUSIVE', 'Values': ['DE']}}
    """
    if segment.import_definition is not None:
        raise DefinitionError(
            "an imported segment is created in Pinpoint by CreateImportJob "
            "(DefineSegment=true), not by CreateSegment; export its members instead",
            path="ImportDefinition",
            kind="segment",
        )
    doc = segment.to_dict()
    doc.pop("Description", None)
    if "Dimensions" in doc:
        _refuse_extensions(doc["Dimensions"], "Dimensions")
    groups = doc.get("SegmentGroups", {}).get("Groups", [])
    for g, group in enumerate(groups):
        for d, dims in enumerate(group.get("Dimensions", [])):
            _refuse_extensions(dims, f"SegmentGroups.Groups.{g}.Dimensions.{d}")
        for ref in group.get("SourceSegments", []):
            if segment_ids and ref["Id"] in segment_ids:
                ref["Id"] = segment_ids[ref["Id"]]
    _split_metric_between(doc)
    if validate:
        found = pinpoint_problems(doc)
        if found:
            raise DefinitionError(
                "not a valid Pinpoint WriteSegmentRequest: " + "; ".join(found), kind="segment"
            )
    return doc


def pinpoint_problems(document: Any, shape_name: str = "WriteSegmentRequest") -> list[str]:
    """Every way ``document`` fails botocore's Pinpoint shape, enum values included."""
    return pinpoint.problems(shape_name, document)


def _refuse_extensions(dims: dict[str, Any], path: str) -> None:
    for family, model in (("Demographic", SegmentDemographics), ("Location", SegmentLocation)):
        for key in dims.get(family, {}):
            if key in model.EXTENSIONS:  # type: ignore[attr-defined]
                hint = " (use GPSPoint for places)" if family == "Location" else ""
                raise DefinitionError(
                    f"{key} is an engagekit extension Pinpoint has no dimension for{hint}",
                    path=f"{path}.{family}.{key}",
                    kind="segment",
                )
    if dims.get("UserMetrics"):
        raise DefinitionError(
            "UserMetrics is an engagekit extension; Pinpoint segments filter endpoint Metrics",
            path=f"{path}.UserMetrics",
            kind="segment",
        )
    for family in ("Attributes", "UserAttributes"):
        for name, attr in dims.get(family, {}).items():
            if attr.get("AttributeType") == "NOT_BETWEEN":
                raise DefinitionError(
                    "NOT_BETWEEN is not a Pinpoint AttributeType; use BEFORE the start in one "
                    "group and AFTER the end in another, combined with ANY",
                    path=f"{path}.{family}.{name}.AttributeType",
                    kind="segment",
                )


def _split(dims: dict[str, Any]) -> list[dict[str, Any]]:
    """One dimension set with metric BETWEENs -> ANDed sets with >= low and <= high."""
    extra: list[dict[str, Any]] = []
    metrics = dict(dims.get("Metrics", {}))
    for name, metric in list(metrics.items()):
        if metric.get("ComparisonOperator") == "BETWEEN":
            low, high = metric["Values"]
            metrics[name] = {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": low}
            extra.append(
                {"Metrics": {name: {"ComparisonOperator": "LESS_THAN_OR_EQUAL", "Value": high}}}
            )
    if not extra:
        return [dims]
    return [{**dims, "Metrics": metrics}, *extra]


def _has_between(dims: dict[str, Any]) -> bool:
    return any(m.get("ComparisonOperator") == "BETWEEN" for m in dims.get("Metrics", {}).values())


def _split_metric_between(doc: dict[str, Any]) -> None:
    if "Dimensions" in doc and _has_between(doc["Dimensions"]):
        if "SegmentGroups" in doc:
            raise DefinitionError(
                "a metric BETWEEN in Dimensions cannot be expressed next to SegmentGroups; "
                "move it into a group of Type ALL",
                path="Dimensions.Metrics",
                kind="segment",
            )
        dims = doc.pop("Dimensions")
        doc["SegmentGroups"] = {
            "Include": "ALL",
            "Groups": [{"Type": "ALL", "Dimensions": _split(dims)}],
        }
        return
    for g, group in enumerate(doc.get("SegmentGroups", {}).get("Groups", [])):
        dims_list = group.get("Dimensions", [])
        if not any(_has_between(d) for d in dims_list):
            continue
        if group.get("Type", "ALL") != "ALL":
            raise DefinitionError(
                "a metric BETWEEN is engagekit's extension; Pinpoint can express it only in a "
                "group of Type ALL (as >= low and <= high)",
                path=f"SegmentGroups.Groups.{g}.Type",
                kind="segment",
            )
        group["Dimensions"] = [part for d in dims_list for part in _split(d)]
