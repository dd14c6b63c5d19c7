"""A fluent builder for notebooks; every step returns a new builder, ``build()`` a :class:`Segment`.

    >>> from engagekit.segments import segment
    >>> berlin = (
    ...     segment("berlin-email")
    ...     .channel("EMAIL")
    ...     .city("Berlin")
    ...     .attribute("plan", "pro", "enterprise")
    ...     .metric("visits", ">=", 3)
    ...     .exclude("test-users")
    ...     .build()
    ... )
    >>> berlin.segment_groups.include
    'ALL'

Criteria added one after another must all hold (a group of Type ALL). ``.new_group("ANY")``
starts another criteria group; ``.combine("ANY")`` says how groups combine (Pinpoint's
AND / OR / NOR). ``.based_on(...)`` starts from saved segments, ``.exclude(...)`` removes their
members.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from engagekit.errors import DefinitionError
from engagekit.segments._model import Segment

_METRIC_OPS = {
    ">": "GREATER_THAN",
    "<": "LESS_THAN",
    ">=": "GREATER_THAN_OR_EQUAL",
    "<=": "LESS_THAN_OR_EQUAL",
    "==": "EQUAL",
    "=": "EQUAL",
}
How = Literal["ALL", "ANY", "NONE"]
Duration = Literal["HR_24", "DAY_7", "DAY_14", "DAY_30"]


@dataclass(frozen=True)
class _Group:
    type: str = "ALL"
    criteria: tuple[dict[str, Any], ...] = ()  # one SegmentDimensions dict per criterion
    sources: tuple[dict[str, Any], ...] = ()
    source_type: str = "ANY"


@dataclass(frozen=True)
class SegmentBuilder:
    """Immutable fluent builder; see the module docstring."""

    name: str
    groups: tuple[_Group, ...] = (_Group(),)
    include: str = "ALL"
    excluded: tuple[dict[str, Any], ...] = ()
    description: str | None = None
    tag_map: tuple[tuple[str, str], ...] = ()
    imported: dict[str, Any] | None = field(default=None, compare=False)

    # -- plumbing -------------------------------------------------------------------------------
    def _add(self, criterion: dict[str, Any]) -> SegmentBuilder:
        last = self.groups[-1]
        group = replace(last, criteria=(*last.criteria, criterion))
        return replace(self, groups=(*self.groups[:-1], group))

    def _set(self, family: str, key: str, values: tuple[Any, ...], exclude: bool) -> SegmentBuilder:
        if not values:
            raise DefinitionError(
                f"{key}() expects at least one value", path=f"{family}.{key}", kind="segment"
            )
        dim = {"DimensionType": "EXCLUSIVE" if exclude else "INCLUSIVE", "Values": _strs(values)}
        return self._add({family: {key: dim}})

    # -- Demographic (Channel is the endpoint's ChannelType) ------------------------------------
    def channel(self, *channel_types: str, exclude: bool = False) -> SegmentBuilder:
        """Endpoints of these channel types (EMAIL, SMS, APNS, GCM, ...)."""
        return self._set("Demographic", "Channel", channel_types, exclude)

    def platform(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        return self._set("Demographic", "Platform", values, exclude)

    def app_version(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        return self._set("Demographic", "AppVersion", values, exclude)

    def device_type(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        return self._set("Demographic", "DeviceType", values, exclude)

    def make(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        return self._set("Demographic", "Make", values, exclude)

    def model(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        return self._set("Demographic", "Model", values, exclude)

    def locale(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        """engagekit extension (not in Pinpoint's segment dimensions)."""
        return self._set("Demographic", "Locale", values, exclude)

    def timezone(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        """engagekit extension (not in Pinpoint's segment dimensions)."""
        return self._set("Demographic", "Timezone", values, exclude)

    # -- Location -------------------------------------------------------------------------------
    def country(self, *codes: str, exclude: bool = False) -> SegmentBuilder:
        """ISO 3166-1 alpha-2 country codes."""
        return self._set("Location", "Country", codes, exclude)

    def city(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        """engagekit extension; for Pinpoint use :meth:`near`."""
        return self._set("Location", "City", values, exclude)

    def region(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        return self._set("Location", "Region", values, exclude)

    def postal_code(self, *values: str, exclude: bool = False) -> SegmentBuilder:
        return self._set("Location", "PostalCode", values, exclude)

    def near(self, latitude: float, longitude: float, *, km: float) -> SegmentBuilder:
        """Endpoints within ``km`` kilometres (great-circle) of a point."""
        gps = {
            "Coordinates": {"Latitude": latitude, "Longitude": longitude},
            "RangeInKilometers": km,
        }
        return self._add({"Location": {"GPSPoint": gps}})

    # -- Behavior -------------------------------------------------------------------------------
    def active(self, within: Duration = "DAY_30") -> SegmentBuilder:
        """Active within HR_24, DAY_7, DAY_14 or DAY_30 (last session, else EffectiveDate)."""
        return self._add({"Behavior": {"Recency": {"Duration": within, "RecencyType": "ACTIVE"}}})

    def inactive(self, within: Duration = "DAY_30") -> SegmentBuilder:
        """Not active within the duration (or never)."""
        rec = {"Duration": within, "RecencyType": "INACTIVE"}
        return self._add({"Behavior": {"Recency": rec}})

    # -- custom attributes ----------------------------------------------------------------------
    def attribute(
        self, name: str, *values: str, type: str = "INCLUSIVE", user: bool = False
    ) -> SegmentBuilder:
        """Attributes.<name> (or User.UserAttributes.<name> with ``user=True``) criterion.

        ``type`` is Pinpoint's AttributeType: INCLUSIVE (default), EXCLUSIVE, CONTAINS, BEFORE,
        AFTER, ON, BETWEEN (and engagekit's NOT_BETWEEN).
        """
        family = "UserAttributes" if user else "Attributes"
        return self._add({family: {name: {"AttributeType": type, "Values": _strs(values)}}})

    def user_attribute(self, name: str, *values: str, type: str = "INCLUSIVE") -> SegmentBuilder:
        return self.attribute(name, *values, type=type, user=True)

    def attribute_not(self, name: str, *values: str, user: bool = False) -> SegmentBuilder:
        """None of the attribute's values is listed (EXCLUSIVE)."""
        return self.attribute(name, *values, type="EXCLUSIVE", user=user)

    def contains(self, name: str, *substrings: str, user: bool = False) -> SegmentBuilder:
        """Some value of the attribute contains one of the substrings (CONTAINS)."""
        return self.attribute(name, *substrings, type="CONTAINS", user=user)

    def before(self, name: str, date: str, *, user: bool = False) -> SegmentBuilder:
        return self.attribute(name, date, type="BEFORE", user=user)

    def after(self, name: str, date: str, *, user: bool = False) -> SegmentBuilder:
        return self.attribute(name, date, type="AFTER", user=user)

    def on(self, name: str, date: str, *, user: bool = False) -> SegmentBuilder:
        return self.attribute(name, date, type="ON", user=user)

    def between_dates(
        self, name: str, start: str, end: str, *, user: bool = False
    ) -> SegmentBuilder:
        return self.attribute(name, start, end, type="BETWEEN", user=user)

    # -- metrics --------------------------------------------------------------------------------
    def metric(self, name: str, op: str, value: float, *, user: bool = False) -> SegmentBuilder:
        """Metrics.<name> compared with a number: ``>``, ``>=``, ``<``, ``<=``, ``==`` or
        Pinpoint's operator names (GREATER_THAN, ...)."""
        operator = _METRIC_OPS.get(op, op)
        family = "UserMetrics" if user else "Metrics"
        return self._add({family: {name: {"ComparisonOperator": operator, "Value": value}}})

    def metric_between(
        self, name: str, low: float, high: float, *, user: bool = False
    ) -> SegmentBuilder:
        """low <= Metrics.<name> <= high (engagekit's BETWEEN)."""
        family = "UserMetrics" if user else "Metrics"
        dim = {"ComparisonOperator": "BETWEEN", "Values": [low, high]}
        return self._add({family: {name: dim}})

    # -- structure ------------------------------------------------------------------------------
    def based_on(self, *segments: str | tuple[str, int], how: How = "ANY") -> SegmentBuilder:
        """Start this criteria group from saved segments (name or (name, version))."""
        last = self.groups[-1]
        group = replace(last, sources=(*last.sources, *map(_ref, segments)), source_type=how)
        return replace(self, groups=(*self.groups[:-1], group))

    def exclude(self, *segments: str | tuple[str, int]) -> SegmentBuilder:
        """Leave out the members of these saved segments (name or (name, version))."""
        return replace(self, excluded=(*self.excluded, *map(_ref, segments)))

    def new_group(self, type: How = "ALL") -> SegmentBuilder:
        """Start another criteria group whose criteria combine by ``type``."""
        return replace(self, groups=(*self.groups, _Group(type=type)))

    def match(self, type: How) -> SegmentBuilder:
        """How the current group's criteria combine: ALL (and), ANY (or), NONE (nor)."""
        return replace(self, groups=(*self.groups[:-1], replace(self.groups[-1], type=type)))

    def combine(self, include: How) -> SegmentBuilder:
        """How groups combine: ALL (and), ANY (or), NONE (nor)."""
        return replace(self, include=include)

    def describe(self, text: str) -> SegmentBuilder:
        return replace(self, description=text)

    def tags(self, **tags: str) -> SegmentBuilder:
        return replace(self, tag_map=(*self.tag_map, *tags.items()))

    # -- result ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"Name": self.name}
        groups = [g for g in self.groups if g.criteria or g.sources]
        simple = (
            len(groups) <= 1
            and not self.excluded
            and all(g.type == "ALL" and not g.sources for g in groups)
        )
        if simple:
            merged = _merge(list(groups[0].criteria)) if groups else []
            if len(merged) == 1:
                doc["Dimensions"] = merged[0]
            elif merged:  # the same key twice: keep them as ANDed dimension sets
                doc["SegmentGroups"] = {
                    "Include": "ALL",
                    "Groups": [{"Type": "ALL", "Dimensions": merged}],
                }
        else:
            out_groups = [_group_doc(g) for g in groups]
            if self.excluded:
                if self.include == "ALL" or not out_groups:
                    out_groups.append({"SourceSegments": list(self.excluded), "SourceType": "NONE"})
                elif self.include == "ANY" and all("SourceSegments" not in g for g in out_groups):
                    # (A and not X) or (B and not X) == (A or B) and not X
                    for g in out_groups:
                        g["SourceSegments"] = list(self.excluded)
                        g["SourceType"] = "NONE"
                else:
                    raise DefinitionError(
                        "exclude() works with groups combined by ALL, or by ANY when no group "
                        "has its own base segments; combine the groups with ALL",
                        path="SegmentGroups.Include",
                        kind="segment",
                    )
            doc["SegmentGroups"] = {"Include": self.include, "Groups": out_groups}
        if self.imported is not None:
            doc["ImportDefinition"] = self.imported
        if self.description:
            doc["Description"] = self.description
        if self.tag_map:
            doc["tags"] = dict(self.tag_map)
        return doc

    def build(self) -> Segment:
        """The validated :class:`Segment` (raises DefinitionError naming the bad field)."""
        return Segment.model_validate(self.to_dict())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(f"SegmentBuilder({self.to_dict()!r})")


def segment(name: str) -> SegmentBuilder:
    """Start building a segment called ``name``."""
    return SegmentBuilder(name=name)


def builder_from(seg: Segment) -> SegmentBuilder:
    """A builder that refines an existing segment (e.g. an imported one): its definition is kept
    as the first group's base criteria."""
    body = seg.to_dict()
    b = SegmentBuilder(
        name=seg.name, description=seg.description, imported=body.get("ImportDefinition")
    )
    if seg.dimensions is not None:
        b = b._add(body["Dimensions"])
    if seg.segment_groups is not None:
        raise DefinitionError(
            "builder_from() refines segments defined by Dimensions only; edit SegmentGroups "
            "through the model (segment.model_copy(update=...))",
            path="SegmentGroups",
            kind="segment",
        )
    return b


def _group_doc(g: _Group) -> dict[str, Any]:
    doc: dict[str, Any] = {"Type": g.type}
    if g.criteria:
        doc["Dimensions"] = _merge(list(g.criteria)) if g.type == "ALL" else list(g.criteria)
    if g.sources:
        doc["SourceSegments"] = list(g.sources)
        doc["SourceType"] = g.source_type
    return doc


def _merge(criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge ANDed criteria into as few SegmentDimensions as possible (no key clashes)."""
    out: list[dict[str, Any]] = []
    for crit in criteria:
        for target in out:
            if not _clash(target, crit):
                _deep_update(target, crit)
                break
        else:
            out.append(_deep_copy(crit))
    return out


def _clash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return any(family in a and set(a[family]) & set(inner) for family, inner in b.items())


def _deep_update(a: dict[str, Any], b: dict[str, Any]) -> None:
    for family, inner in b.items():
        a.setdefault(family, {}).update(_deep_copy(inner))


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}


def _strs(values: tuple[Any, ...]) -> list[str]:
    return [str(v) for v in values]


def _ref(item: str | tuple[str, int]) -> dict[str, Any]:
    if isinstance(item, tuple):
        return {"Id": item[0], "Version": int(item[1])}
    return {"Id": item}
