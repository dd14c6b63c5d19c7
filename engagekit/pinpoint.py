"""Pinpoint JSON documents checked against the Pinpoint service model that botocore ships.

botocore's ``ParamValidator`` checks structure and types but not enum values; :func:`validate`
checks both, so a document engagekit produces is one Pinpoint would accept.

    >>> from engagekit.pinpoint import validate
    >>> validate("SMSTemplateRequest", {"Body": "Hi {{User.UserAttributes.FirstName}}"})
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape
from botocore.validate import ParamValidator

from engagekit.errors import DefinitionError


@lru_cache(maxsize=4)
def service_model(service: str = "pinpoint") -> ServiceModel:
    """botocore's model of an AWS service (``pinpoint``, ``sesv2``, ``pinpoint-sms-voice-v2``)."""
    return botocore.session.get_session().get_service_model(service)


def shape(name: str, service: str = "pinpoint") -> Shape:
    return service_model(service).shape_for(name)


def problems(shape_name: str, document: Any, service: str = "pinpoint") -> list[str]:
    """Every way ``document`` fails the named shape: botocore's report plus enum violations."""
    target = shape(shape_name, service)
    report = ParamValidator().validate(document, target)
    found = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
    found += _enum_problems(target, document, shape_name)
    return found


def validate(shape_name: str, document: Any, service: str = "pinpoint") -> None:
    """Raise :class:`DefinitionError` naming each bad field when the document does not fit."""
    found = problems(shape_name, document, service)
    if found:
        raise DefinitionError(
            f"not a valid Pinpoint {shape_name}: " + "; ".join(found), kind=shape_name
        )


def enum_values(shape_name: str, member_path: str, service: str = "pinpoint") -> list[str]:
    """The allowed values of an enum member, e.g. ``enum_values("Schedule", "Frequency")``."""
    current = shape(shape_name, service)
    for part in member_path.split("."):
        assert isinstance(current, StructureShape), f"{part} is not inside a structure"
        current = current.members[part]
        while isinstance(current, (ListShape, MapShape)):
            current = current.member if isinstance(current, ListShape) else current.value
    return list(current.enum)


def _enum_problems(target: Shape, value: Any, path: str) -> list[str]:
    out: list[str] = []
    if isinstance(target, StructureShape) and isinstance(value, dict):
        for key, item in value.items():
            if key in target.members:
                out += _enum_problems(target.members[key], item, f"{path}.{key}")
    elif isinstance(target, ListShape) and isinstance(value, list):
        for i, item in enumerate(value):
            out += _enum_problems(target.member, item, f"{path}[{i}]")
    elif isinstance(target, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            out += _enum_problems(target.value, item, f"{path}.{key}")
    elif getattr(target, "enum", None) and isinstance(value, str) and value not in target.enum:
        out.append(f"{path}: {value!r} is not one of {', '.join(target.enum)}")
    return out
