"""Pinpoint's message template helpers (conditional, string, date, math and encoding).

Each helper behaves as Pinpoint's "Using message template helpers" guide documents it, inline
(``{{eq a b yes='y' no='n'}}``) and, for conditionals, as a block with ``{{else}}``:

    >>> from engagekit.templates import render
    >>> render("{{capitalizeFirst (lower 'JANE')}}", {})
    'Jane'
    >>> render("{{#gt Age '17'}}adult{{else}}minor{{/gt}}", {"Age": "22"})
    'adult'

Helpers receive the current context first (``this``); block helpers get pybars3's ``options``
second. A list passed where a string is expected uses its first item, as Pinpoint's attribute
lists do (``{{upper User.UserAttributes.LastName}}`` works like ``...LastName.[0]``).
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import html
import re
import uuid as _uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engagekit.templates._compile import (
    HBList,
    is_options,
    register_helper,
    to_text,
)

#: the time ``now`` prints; batch rendering pins it so every message of a run agrees
NOW: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("engagekit_now", default=None)


class HelperError(ValueError):
    """A helper got arguments it cannot use (the message names the helper and the value)."""


# --------------------------------------------------------------------------------------------
# argument handling


def _scalar(value: Any) -> Any:
    """First item of an attribute list; other values unchanged."""
    if isinstance(value, (list, tuple)):
        return value[0] if len(value) else None
    return value


def _str(value: Any) -> str:
    return to_text(_scalar(value))


def _number(value: Any, helper: str) -> Decimal:
    v = _scalar(value)
    if isinstance(v, bool) or v is None:
        raise HelperError(f"{helper} expects a number, got {to_text(v) or 'nothing'!r}")
    try:
        d = Decimal(str(v).strip()) if not isinstance(v, float) else Decimal(repr(v))
    except InvalidOperation:
        raise HelperError(f"{helper} expects a number, got {to_text(v)!r}") from None
    if not d.is_finite():
        raise HelperError(f"{helper} expects a finite number, got {to_text(v)!r}")
    return d


def _num_text(d: Decimal) -> str:
    """A decimal as JavaScript would print the number (no trailing zeros, no exponent)."""
    if d == d.to_integral_value():
        return str(int(d))
    text = format(d.normalize(), "f")
    return text


def _int_arg(value: Any, helper: str, what: str) -> int:
    d = _number(value, helper)
    if d < 0:
        raise HelperError(f"{helper}: {what} must not be negative, got {_num_text(d)}")
    return int(d)


def _truthy(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return len(value) > 0
    return bool(value) and value != "false" if isinstance(value, str) else bool(value)


def _split(args: tuple) -> tuple[dict | None, tuple]:
    if args and is_options(args[0]):
        return args[0], args[1:]
    return None, args


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    a, b = _scalar(a), _scalar(b)
    try:
        if a is not None and b is not None and not isinstance(a, bool) and not isinstance(b, bool):
            return Decimal(str(a).strip()), Decimal(str(b).strip())
    except InvalidOperation:
        pass
    return to_text(a), to_text(b)


def _conditional(name: str, test: Callable[[tuple], bool], min_args: int) -> Callable[..., Any]:
    def helper(this: Any, *args: Any, **kw: Any) -> Any:
        options, values = _split(args)
        if len(values) < min_args:
            raise HelperError(f"{name} needs {min_args} value(s), got {len(values)}")
        result = test(values)
        if options is not None:
            return options["fn"](this) if result else options["inverse"](this)
        if "yes" in kw or "no" in kw:
            return kw.get("yes", "") if result else kw.get("no", "")
        return result

    helper.__name__ = name
    return helper


def _eq(v: tuple) -> bool:
    a, b = _comparable(v[0], v[1])
    return type(a) is type(b) and a == b


def _order(op: Callable[[Any, Any], bool]) -> Callable[[tuple], bool]:
    def test(v: tuple) -> bool:
        if _scalar(v[0]) is None or _scalar(v[1]) is None:
            return False
        a, b = _comparable(v[0], v[1])
        if type(a) is not type(b):
            a, b = to_text(_scalar(v[0])), to_text(_scalar(v[1]))
        return op(a, b)

    return test


CONDITIONALS = {
    "and": (_conditional("and", lambda v: all(_truthy(x) for x in v), 2)),
    "or": (_conditional("or", lambda v: any(_truthy(x) for x in v), 2)),
    "not": (_conditional("not", lambda v: not _truthy(v[0]), 1)),
    "eq": (_conditional("eq", _eq, 2)),
    "neq": (_conditional("neq", lambda v: not _eq(v), 2)),
    "gt": (_conditional("gt", _order(lambda a, b: a > b), 2)),
    "gte": (_conditional("gte", _order(lambda a, b: a >= b), 2)),
    "lt": (_conditional("lt", _order(lambda a, b: a < b), 2)),
    "lte": (_conditional("lte", _order(lambda a, b: a <= b), 2)),
}

# --------------------------------------------------------------------------------------------
# string helpers


def abbreviate(this: Any, value: Any, width: Any = None, **kw: Any) -> str:
    """``{{abbreviate "Alejandro" 6}}`` -> ``Ale...`` (the ellipsis counts toward the width)."""
    text = _str(value)
    n = _int_arg(width if width is not None else kw.get("width", 0), "abbreviate", "width")
    if len(text) <= n:
        return text
    if n < 4:
        raise HelperError(f"abbreviate: width must be at least 4, got {n}")
    return text[: n - 3] + "..."


def capitalize(this: Any, value: Any, **kw: Any) -> str:
    """Upper-case the first letter of each word."""
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), _str(value))


def capitalize_first(this: Any, value: Any, **kw: Any) -> str:
    text = _str(value)
    return text[:1].upper() + text[1:]


def _pad_char(kw: Mapping[str, Any]) -> str:
    pad = _str(kw.get("pad", " ")) or " "
    return pad[0]


def center(this: Any, value: Any, size: Any = None, **kw: Any) -> str:
    text = _str(value)
    n = _int_arg(size if size is not None else kw.get("size", 0), "center", "size")
    pad = _pad_char(kw)
    total = n - len(text)
    if total <= 0:
        return text
    left = total // 2
    return pad * left + text + pad * (total - left)


def cut(this: Any, value: Any, remove: Any = " ", **kw: Any) -> str:
    return _str(value).replace(_str(remove), "") if _str(remove) else _str(value)


def ljust(this: Any, value: Any, size: Any = None, **kw: Any) -> str:
    n = _int_arg(size if size is not None else kw.get("size", 0), "ljust", "size")
    return _str(value).ljust(n, _pad_char(kw))


def rjust(this: Any, value: Any, size: Any = None, **kw: Any) -> str:
    n = _int_arg(size if size is not None else kw.get("size", 0), "rjust", "size")
    return _str(value).rjust(n, _pad_char(kw))


def inflect(
    this: Any, count: Any, singular: Any, plural: Any, includeCount: Any = False, **kw: Any
) -> str:
    n = _number(count, "inflect")
    word = _str(singular) if n == 1 else _str(plural)
    include = kw.get("includeCount", includeCount)
    if include is True or (isinstance(include, str) and include.lower() == "true"):
        return f"{_num_text(n)} {word}"
    return word


def join(this: Any, value: Any, sep: Any = ",", **kw: Any) -> str:
    items = value if isinstance(value, (list, tuple)) else ([] if value is None else [value])
    body = to_text(sep).join(to_text(v) for v in items)
    return to_text(kw.get("prefix", "")) + body + to_text(kw.get("suffix", ""))


def lower(this: Any, value: Any, **kw: Any) -> str:
    return _str(value).lower()


def upper(this: Any, value: Any, **kw: Any) -> str:
    return _str(value).upper()


def ordinalize(this: Any, value: Any, **kw: Any) -> str:
    d = _number(value, "ordinalize")
    if d != d.to_integral_value():
        raise HelperError(f"ordinalize expects a whole number, got {_num_text(d)}")
    n = int(d)
    suffix = (
        "th" if 10 <= abs(n) % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(abs(n) % 10, "th")
    )
    return f"{n}{suffix}"


def replace(this: Any, value: Any, old: Any, new: Any = "", **kw: Any) -> str:
    return _str(value).replace(_str(old), _str(new))


def slugify(this: Any, value: Any, **kw: Any) -> str:
    text = _str(value).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[\s_-]+", "-", text).strip("-")


_TAG = re.compile(r"<[^>]*>")


def strip_tags(this: Any, value: Any, **kw: Any) -> str:
    return html.unescape(_TAG.sub("", _str(value)))


def substring(this: Any, value: Any, start: Any, end: Any = None, **kw: Any) -> str:
    text = _str(value)
    a = _int_arg(start, "substring", "startOffset")
    b = len(text) if end is None else _int_arg(end, "substring", "endOffset")
    return text[a:b]


def yesno(this: Any, value: Any = None, **kw: Any) -> str:
    v = _scalar(value)
    if isinstance(v, str):
        v = {"true": True, "false": False, "": None}.get(v.lower(), v)
    if v is None:
        return to_text(kw.get("maybe", "maybe"))
    return to_text(kw.get("yes", "yes")) if _truthy(v) else to_text(kw.get("no", "no"))


# --------------------------------------------------------------------------------------------
# dates

_NAMED_FORMATS = ("full", "long", "medium", "short")
_JAVA_TO_STRPTIME = [
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MMMM", "%B"),
    ("MMM", "%b"),
    ("MM", "%m"),
    ("M", "%m"),
    ("dd", "%d"),
    ("d", "%d"),
    ("HH", "%H"),
    ("H", "%H"),
    ("hh", "%I"),
    ("h", "%I"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSS", "%f"),
    ("EEEE", "%A"),
    ("EEE", "%a"),
    ("a", "%p"),
    ("XXX", "%z"),
    ("Z", "%z"),
    ("z", "%Z"),
]


def _zone(tz: Any) -> ZoneInfo | None:
    name = _str(tz) if tz is not None else ""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HelperError(
            f"unknown time zone {name!r}: use an IANA id such as 'America/Los_Angeles'"
        ) from None


def _java_pattern_to_strptime(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "'":
            j = pattern.find("'", i + 1)
            j = len(pattern) if j == -1 else j
            out.append(pattern[i + 1 : j].replace("%", "%%") or "'")
            i = j + 1
            continue
        for java, py in _JAVA_TO_STRPTIME:
            if pattern.startswith(java, i):
                out.append(py)
                i += len(java)
                break
        else:
            out.append(pattern[i].replace("%", "%%"))
            i += 1
    return "".join(out)


def _parse_date(value: Any, input_format: str | None, zone: ZoneInfo | None) -> datetime:
    v = _scalar(value)
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, date):
        dt = datetime(v.year, v.month, v.day)
    elif hasattr(v, "to_pydatetime"):
        dt = v.to_pydatetime()
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        dt = datetime.fromtimestamp(float(v) / 1000.0, UTC)  # epoch milliseconds, as in Java
    else:
        text = _str(v).strip()
        if not text:
            raise HelperError("dateFormat needs a date, got nothing")
        try:
            if input_format:
                dt = datetime.strptime(text, _java_pattern_to_strptime(input_format))
            else:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            fmt = f"the pattern {input_format!r}" if input_format else "ISO 8601"
            raise HelperError(f"dateFormat cannot read {text!r} as {fmt}") from None
    if dt.tzinfo is None:  # a local date/time: read it in the requested zone
        dt = dt.replace(tzinfo=zone or UTC)
    elif zone is not None:
        dt = dt.astimezone(zone)
    return dt


def _format_date(dt: datetime, fmt: str, locale: str, date_only: bool) -> str:
    from babel.dates import format_date, format_datetime

    loc = (locale or "en_US").replace("-", "_")
    if fmt in _NAMED_FORMATS:
        if date_only:
            return format_date(dt.date(), fmt, locale=loc)
        return format_date(dt.date(), fmt, locale=loc)
    return format_datetime(dt, fmt, tzinfo=dt.tzinfo, locale=loc)


def date_format(this: Any, value: Any, *args: Any, **kw: Any) -> str:
    """``{{dateFormat date [format] [locale] inputFormat= outputFormat= format= tz= locale=}}``."""
    fmt = kw.get("outputFormat", kw.get("format", args[0] if args else "medium"))
    locale = kw.get("locale", args[1] if len(args) > 1 else "en_US")
    zone = _zone(kw.get("tz"))
    dt = _parse_date(value, _str(kw["inputFormat"]) if "inputFormat" in kw else None, zone)
    return _format_date(dt, _str(fmt) or "medium", _str(locale), True)


def now(this: Any, *args: Any, **kw: Any) -> str:
    """``{{now ["format"] [tz=...]}}``: today's date (pinned for a batch)."""
    fmt = kw.get("format", args[0] if args else "medium")
    zone = _zone(kw.get("tz"))
    current = NOW.get() or datetime.now(UTC)
    current = current.astimezone(zone or UTC)
    return _format_date(current, _str(fmt) or "medium", _str(kw.get("locale", "en_US")), True)


# --------------------------------------------------------------------------------------------
# math and encoding


def _math(name: str, op: Callable[[Decimal, Decimal], Decimal]) -> Callable[..., str]:
    def helper(this: Any, a: Any, b: Any, **kw: Any) -> str:
        return _num_text(op(_number(a, name), _number(b, name)))

    helper.__name__ = name
    return helper


def _divide(a: Decimal, b: Decimal) -> Decimal:
    if b == 0:
        raise HelperError("divide by zero")
    return (a / b).quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP)


def _modulo(a: Decimal, b: Decimal) -> Decimal:
    if b == 0:
        raise HelperError("modulo by zero")
    return a % b


def _rounder(name: str, rounding: str) -> Callable[..., str]:
    def helper(this: Any, value: Any, **kw: Any) -> str:
        return _num_text(_number(value, name).to_integral_value(rounding=rounding))

    helper.__name__ = name
    return helper


def _hasher(name: str) -> Callable[..., str]:
    def helper(this: Any, value: Any, **kw: Any) -> str:
        return hashlib.new(name, _str(value).encode("utf-8")).hexdigest()

    helper.__name__ = name
    return helper


def encode64(this: Any, value: Any, **kw: Any) -> str:
    return base64.b64encode(_str(value).encode("utf-8")).decode("ascii")


def decode64(this: Any, value: Any, **kw: Any) -> str:
    text = _str(value)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise HelperError(f"decode64: {text!r} is not Base64-encoded UTF-8 text") from None


def uuid(this: Any, *args: Any, **kw: Any) -> str:
    return str(_uuid.uuid4())


# --------------------------------------------------------------------------------------------
# registry

PINPOINT_HELPERS: dict[str, Callable[..., Any]] = {
    **CONDITIONALS,
    "abbreviate": abbreviate,
    "capitalize": capitalize,
    "capitalizeFirst": capitalize_first,
    "center": center,
    "cut": cut,
    "dateFormat": date_format,
    "inflect": inflect,
    "join": join,
    "ljust": ljust,
    "lower": lower,
    "now": now,
    "ordinalize": ordinalize,
    "replace": replace,
    "rjust": rjust,
    "slugify": slugify,
    "stripTags": strip_tags,
    "substring": substring,
    "upper": upper,
    "yesno": yesno,
    "add": _math("add", lambda a, b: a + b),
    "subtract": _math("subtract", lambda a, b: a - b),
    "multiply": _math("multiply", lambda a, b: a * b),
    "divide": _math("divide", _divide),
    "modulo": _math("modulo", _modulo),
    "ceiling": _rounder("ceiling", ROUND_CEILING),
    "floor": _rounder("floor", ROUND_FLOOR),
    "round": _rounder("round", ROUND_HALF_UP),
    "encode64": encode64,
    "decode64": decode64,
    "md5": _hasher("md5"),
    "sha256": _hasher("sha256"),
    "sha512": _hasher("sha512"),
    "uuid": uuid,
}

for _name, _fn in PINPOINT_HELPERS.items():
    register_helper(_name, _fn, volatile=_name == "uuid", conditional=_name in CONDITIONALS)

__all__ = ["NOW", "PINPOINT_HELPERS", "HBList", "HelperError"]
