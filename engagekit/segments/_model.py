"""The segment declaration: Pinpoint's ``WriteSegmentRequest`` as frozen pydantic models.

Field names are snake_case in Python and Pinpoint's names on the wire (aliases), so
``Segment.model_validate(pinpoint_json)`` and ``segment.model_dump_json()`` round-trip.

engagekit extensions (not expressible in Pinpoint, refused by :func:`to_pinpoint`):
``Location.City`` / ``Location.Region`` / ``Location.PostalCode`` and ``Demographic.Locale`` /
``Demographic.Timezone`` set dimensions, ``UserMetrics``, metric ``BETWEEN`` (``Values``), attribute
``NOT_BETWEEN``, ``Description`` and ``ImportDefinition`` (imported segments keep their member ids).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engagekit.errors import DefinitionError

AttributeType = Literal[
    "INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN", "NOT_BETWEEN"
]
DimensionType = Literal["INCLUSIVE", "EXCLUSIVE"]
ComparisonOperator = Literal[
    "GREATER_THAN",
    "LESS_THAN",
    "GREATER_THAN_OR_EQUAL",
    "LESS_THAN_OR_EQUAL",
    "EQUAL",
    "BETWEEN",
]
Duration = Literal["HR_24", "DAY_7", "DAY_14", "DAY_30"]
RecencyType = Literal["ACTIVE", "INACTIVE"]
GroupType = Literal["ALL", "ANY", "NONE"]
ImportFormat = Literal["CSV", "JSON"]
Finite = Annotated[float, Field(allow_inf_nan=False)]

DATE_ATTRIBUTE_TYPES = frozenset({"BEFORE", "AFTER", "ON", "BETWEEN", "NOT_BETWEEN"})
DURATION_SECONDS = {
    "HR_24": 86_400,
    "DAY_7": 7 * 86_400,
    "DAY_14": 14 * 86_400,
    "DAY_30": 30 * 86_400,
}

#: The date/time strings engagekit reads as instants (attribute values and criteria values):
#: ``YYYY-MM-DD`` optionally followed by ``THH:MM[:SS[.ffffff]]`` and ``Z`` or ``±HH:MM``; no
#: offset means UTC. Years 1900–2099. The pandas and SQL paths use this same pattern.
DATE_PATTERN = (
    r"^(19|20)\d{2}-\d{2}-\d{2}"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?$"
)
_DATE_RE = re.compile(DATE_PATTERN)


def parse_instant(text: str) -> datetime | None:
    """An attribute date string as an aware UTC datetime, or None when it is not a date."""
    if not isinstance(text, str) or not _DATE_RE.match(text):
        return None
    value = text.replace(" ", "T").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True
    )


class SetDimension(_Model):
    """Pinpoint's SetDimension: the column's value is (INCLUSIVE) or is not (EXCLUSIVE) listed."""

    dimension_type: DimensionType = Field("INCLUSIVE", alias="DimensionType")
    values: tuple[str, ...] = Field(alias="Values")


class AttributeDimension(_Model):
    """Pinpoint's AttributeDimension over a list-valued custom attribute.

    INCLUSIVE: any value listed; EXCLUSIVE: none listed (endpoints without the attribute are
    kept); CONTAINS: any value contains one of ``Values``; BEFORE / AFTER / ON: any value read as
    a date is before / after / on the day of ``Values[0]``; BETWEEN: within ``Values[0]`` and
    ``Values[1]`` inclusive; NOT_BETWEEN (engagekit): no value within.
    """

    attribute_type: AttributeType = Field("INCLUSIVE", alias="AttributeType")
    values: tuple[str, ...] = Field(alias="Values")


class MetricDimension(_Model):
    """Pinpoint's MetricDimension; ``BETWEEN`` with ``Values=[low, high]`` is engagekit's own."""

    comparison_operator: ComparisonOperator = Field(alias="ComparisonOperator")
    value: Finite | None = Field(None, alias="Value")
    values: tuple[Finite, ...] | None = Field(None, alias="Values")


class GPSCoordinates(_Model):
    latitude: float = Field(alias="Latitude", ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(alias="Longitude", ge=-180, le=180, allow_inf_nan=False)


class GPSPointDimension(_Model):
    """Endpoints within ``RangeInKilometers`` (great-circle) of ``Coordinates``.

    Pinpoint documents no default range; engagekit uses 100 km when it is left out.
    """

    coordinates: GPSCoordinates = Field(alias="Coordinates")
    range_in_kilometers: float = Field(100.0, alias="RangeInKilometers", ge=0, allow_inf_nan=False)


class RecencyDimension(_Model):
    """ACTIVE: last activity within ``Duration`` before now; INACTIVE: not (or never) active."""

    duration: Duration = Field(alias="Duration")
    recency_type: RecencyType = Field(alias="RecencyType")


class SegmentBehaviors(_Model):
    recency: RecencyDimension | None = Field(None, alias="Recency")


class SegmentDemographics(_Model):
    app_version: SetDimension | None = Field(None, alias="AppVersion")
    channel: SetDimension | None = Field(None, alias="Channel")
    device_type: SetDimension | None = Field(None, alias="DeviceType")
    make: SetDimension | None = Field(None, alias="Make")
    model: SetDimension | None = Field(None, alias="Model")
    platform: SetDimension | None = Field(None, alias="Platform")
    locale: SetDimension | None = Field(None, alias="Locale")  # engagekit
    timezone: SetDimension | None = Field(None, alias="Timezone")  # engagekit

    #: Pinpoint field -> endpoint column
    COLUMNS: ClassVar[dict[str, str]] = {
        "AppVersion": "Demographic.AppVersion",
        "Channel": "ChannelType",
        "DeviceType": "Demographic.DeviceType",
        "Make": "Demographic.Make",
        "Model": "Demographic.Model",
        "Platform": "Demographic.Platform",
        "Locale": "Demographic.Locale",
        "Timezone": "Demographic.Timezone",
    }
    EXTENSIONS: ClassVar[frozenset[str]] = frozenset({"Locale", "Timezone"})


class SegmentLocation(_Model):
    country: SetDimension | None = Field(None, alias="Country")
    gps_point: GPSPointDimension | None = Field(None, alias="GPSPoint")
    city: SetDimension | None = Field(None, alias="City")  # engagekit
    region: SetDimension | None = Field(None, alias="Region")  # engagekit
    postal_code: SetDimension | None = Field(None, alias="PostalCode")  # engagekit

    COLUMNS: ClassVar[dict[str, str]] = {
        "Country": "Location.Country",
        "City": "Location.City",
        "Region": "Location.Region",
        "PostalCode": "Location.PostalCode",
    }
    EXTENSIONS: ClassVar[frozenset[str]] = frozenset({"City", "Region", "PostalCode"})


class SegmentDimensions(_Model):
    """One set of criteria; every criterion present must hold (AND)."""

    attributes: dict[str, AttributeDimension] | None = Field(None, alias="Attributes")
    behavior: SegmentBehaviors | None = Field(None, alias="Behavior")
    demographic: SegmentDemographics | None = Field(None, alias="Demographic")
    location: SegmentLocation | None = Field(None, alias="Location")
    metrics: dict[str, MetricDimension] | None = Field(None, alias="Metrics")
    user_attributes: dict[str, AttributeDimension] | None = Field(None, alias="UserAttributes")
    user_metrics: dict[str, MetricDimension] | None = Field(None, alias="UserMetrics")  # engagekit


class SegmentReference(_Model):
    """A base segment by name (Pinpoint's ``Id``), optionally pinned to a version."""

    id: str = Field(alias="Id", min_length=1)
    version: int | None = Field(None, alias="Version", ge=1)


class SegmentGroup(_Model):
    """Source segments combined by ``SourceType``, filtered by dimensions combined by ``Type``."""

    dimensions: tuple[SegmentDimensions, ...] = Field((), alias="Dimensions")
    source_segments: tuple[SegmentReference, ...] = Field((), alias="SourceSegments")
    source_type: GroupType = Field("ANY", alias="SourceType")
    type: GroupType = Field("ALL", alias="Type")


class SegmentGroupList(_Model):
    """Groups combined by ``Include``: ALL (AND), ANY (OR), NONE (NOR)."""

    groups: tuple[SegmentGroup, ...] = Field((), alias="Groups")
    include: GroupType = Field("ALL", alias="Include")


class ImportDefinition(_Model):
    """An imported (static) segment: the members read from an endpoint file, and where from."""

    url: str = Field(alias="S3Url", description="local path or s3://bucket/key")
    format: ImportFormat = Field(alias="Format")
    endpoint_ids: tuple[str, ...] = Field((), alias="EndpointIds")
    size: int = Field(0, alias="Size", ge=0)
    imported_at: str | None = Field(None, alias="ImportedAt")


class Segment(_Model):
    """A segment: Pinpoint's WriteSegmentRequest (``Name``, ``Dimensions``, ``SegmentGroups``).

    ``Dimensions`` and ``SegmentGroups`` must both hold when both are given; an imported
    segment's members are further refined by them.

        >>> Segment(Name="berlin", Dimensions={"Location": {"City": {"Values": ["Berlin"]}}}).name
        'berlin'
    """

    name: str = Field(alias="Name", min_length=1)
    dimensions: SegmentDimensions | None = Field(None, alias="Dimensions")
    segment_groups: SegmentGroupList | None = Field(None, alias="SegmentGroups")
    import_definition: ImportDefinition | None = Field(None, alias="ImportDefinition")
    description: str | None = Field(None, alias="Description")
    tags: dict[str, str] | None = Field(None, alias="tags")

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise definition_error(exc) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Segment:  # type: ignore[override]
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise definition_error(exc) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes, **kwargs: Any) -> Segment:  # type: ignore[override]
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            raise definition_error(exc) from None

    @model_validator(mode="after")
    def _check(self) -> Segment:
        if self.dimensions is not None:
            check_dimensions(self.dimensions, "Dimensions")
        if self.segment_groups is not None:
            for g, group in enumerate(self.segment_groups.groups):
                for d, dims in enumerate(group.dimensions):
                    check_dimensions(dims, f"SegmentGroups.Groups.{g}.Dimensions.{d}")
        return self

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """Like pydantic's, but unset (None) fields are left out unless asked for."""
        kwargs.setdefault("exclude_none", True)
        return super().model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("exclude_none", True)
        return super().model_dump_json(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (Pinpoint names, unset fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)

    def base_segments(self) -> list[SegmentReference]:
        """Every base segment this segment refers to directly."""
        groups = self.segment_groups.groups if self.segment_groups else ()
        return [ref for g in groups for ref in g.source_segments]


def check_dimensions(dims: SegmentDimensions, path: str) -> None:
    """Semantic checks pydantic's types cannot express; raise DefinitionError with the path."""
    for family, mapping in (
        ("Attributes", dims.attributes),
        ("UserAttributes", dims.user_attributes),
    ):
        for name, attr in (mapping or {}).items():
            where = f"{path}.{family}.{name}"
            if not name:
                raise DefinitionError(
                    "expected a non-empty attribute name", path=where, kind="segment"
                )
            kind = attr.attribute_type
            if kind in ("BETWEEN", "NOT_BETWEEN") and len(attr.values) != 2:
                raise DefinitionError(
                    f"{kind} expects exactly two Values [start, end], got {len(attr.values)}",
                    path=f"{where}.Values",
                    kind="segment",
                )
            if kind in ("BEFORE", "AFTER", "ON") and len(attr.values) != 1:
                raise DefinitionError(
                    f"{kind} expects exactly one date in Values, got {len(attr.values)}",
                    path=f"{where}.Values",
                    kind="segment",
                )
            if kind in ("INCLUSIVE", "EXCLUSIVE", "CONTAINS") and not attr.values:
                raise DefinitionError(
                    f"{kind} expects at least one value", path=f"{where}.Values", kind="segment"
                )
            if kind in DATE_ATTRIBUTE_TYPES:
                for i, v in enumerate(attr.values):
                    if parse_instant(v) is None:
                        raise DefinitionError(
                            f"expected an ISO 8601 date such as 2026-01-31 or "
                            f"2026-01-31T09:00:00Z, got {v!r}",
                            path=f"{where}.Values.{i}",
                            kind="segment",
                        )
                if kind in ("BETWEEN", "NOT_BETWEEN"):
                    lo, hi = (parse_instant(v) for v in attr.values)
                    assert lo is not None and hi is not None
                    if lo > hi:
                        raise DefinitionError(
                            f"{kind} expects the earlier date first, got {list(attr.values)}",
                            path=f"{where}.Values",
                            kind="segment",
                        )
    for family, metrics in (("Metrics", dims.metrics), ("UserMetrics", dims.user_metrics)):
        for name, metric in (metrics or {}).items():
            where = f"{path}.{family}.{name}"
            if metric.comparison_operator == "BETWEEN":
                if metric.values is None or len(metric.values) != 2:
                    raise DefinitionError(
                        "BETWEEN expects Values=[low, high] (two numbers)",
                        path=f"{where}.Values",
                        kind="segment",
                    )
                if metric.values[0] > metric.values[1]:
                    raise DefinitionError(
                        f"BETWEEN expects low <= high, got {list(metric.values)}",
                        path=f"{where}.Values",
                        kind="segment",
                    )
            elif metric.value is None:
                raise DefinitionError(
                    f"{metric.comparison_operator} expects a number in Value",
                    path=f"{where}.Value",
                    kind="segment",
                )
    for family, model in (("Demographic", dims.demographic), ("Location", dims.location)):
        if model is None:
            continue
        for field_name, info in type(model).model_fields.items():
            value = getattr(model, field_name)
            if isinstance(value, SetDimension) and not value.values:
                raise DefinitionError(
                    "expected at least one value",
                    path=f"{path}.{family}.{info.alias}.Values",
                    kind="segment",
                )


_EXPECTED = {
    "extra_forbidden": "unknown field; expected one of the Pinpoint names for this object",
    "literal_error": None,
    "missing": "this field is required",
}


def definition_error(exc: ValidationError, kind: str = "segment") -> DefinitionError:
    """Turn pydantic's first error into a DefinitionError with a dotted path and the expectation."""
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = f"unknown field {err['loc'][-1]!r}: {_allowed_hint(err['loc'])}"
    elif err["type"] == "literal_error":
        msg = f"expected {msg.removeprefix('Input should be ')}; got {err.get('input')!r}"
    elif err["type"] == "missing":
        msg = "this field is required"
    else:
        msg = f"{msg}; got {err.get('input')!r}"
    return DefinitionError(msg, path=path, kind=kind)


def _allowed_hint(loc: tuple[Any, ...]) -> str:
    """Name the fields allowed where an unknown one appeared."""
    model: Any = Segment
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = None
        for name, info in model.model_fields.items():
            if part in (name, info.alias):
                field = info
                break
        if field is None:
            # a dict key such as an attribute name: the value type of the map
            continue
        ann = field.annotation
        model = _model_in(ann) or model
    names = [info.alias or name for name, info in model.model_fields.items()]
    return "expected one of " + ", ".join(names)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
