"""Message variables: an endpoint row as the nested context Pinpoint's templates address.

Flattened endpoint columns become Pinpoint's paths: ``Attributes.plan`` -> ``{{Attributes.plan}}``,
``User.UserAttributes.FirstName`` -> ``{{User.UserAttributes.FirstName.[0]}}``. Custom
attributes stay lists (printed comma-joined like Handlebars.js); a missing value is left out so
``DefaultSubstitutions`` can fill it.

    >>> ctx = endpoint_context({"User.UserAttributes.FirstName": ["Ada"], "Location.City": "Paris"})
    >>> ctx["User"]["UserAttributes"]["FirstName"][0], ctx["Location"]["City"]
    ('Ada', 'Paris')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from engagekit.templates._compile import HBList, to_text

_LIST_PREFIXES = (
    "User.UserAttributes.",
    "User.UserMetrics.",
    "Attributes.",
    "Metrics.",
    "Recommendations.",
)
LIST_FAMILIES = ("Attributes.", "User.UserAttributes.", "Recommendations.")


def column_path(column: str) -> tuple[str, ...]:
    """A column name as a path: the open families keep dots inside the attribute's name."""
    for prefix in _LIST_PREFIXES:
        if column.startswith(prefix) and len(column) > len(prefix):
            return (*prefix[:-1].split("."), column[len(prefix) :])
    return tuple(column.split("."))


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return bool(isinstance(value, (list, tuple, np.ndarray)) and len(value) == 0)


def to_context_value(value: Any, column: str | None = None) -> Any:
    """A cell as a template value: lists -> HBList of strings, numpy -> Python, times -> ISO."""
    if isinstance(value, HBList):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return HBList(
            None if is_missing(v) else (v if isinstance(v, str) else to_text(v)) for v in value
        )
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        text = value.isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if column is not None and column.startswith(LIST_FAMILIES) and isinstance(value, str):
        return HBList([value])
    return value


def _set(ctx: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = ctx
    for seg in path[:-1]:
        nxt = node.get(seg)
        if not isinstance(nxt, dict):
            nxt = {}
            node[seg] = nxt
        node = nxt
    node[path[-1]] = value


def _has(ctx: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = ctx
    for seg in path:
        if not isinstance(node, dict) or seg not in node:
            return False
        node = node[seg]
    return True


def flatten_defaults(defaults: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"User": {"UserAttributes": {"FirstName": "there"}}}`` or dotted keys -> dotted keys."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = value

    for key, value in (defaults or {}).items():
        walk(str(key), value)
    return out


def endpoint_context(
    record: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The template context for one endpoint (flattened column -> value mapping)."""
    ctx: dict[str, Any] = {}
    for column, value in record.items():
        if is_missing(value):
            continue
        _set(ctx, column_path(column), to_context_value(value, column))
    for key, value in flatten_defaults(defaults).items():
        path = column_path(key)
        if not _has(ctx, path):
            _set(ctx, path, to_context_value(value, key))
    return ctx
