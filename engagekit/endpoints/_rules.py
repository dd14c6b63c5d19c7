"""Field rules of an endpoint import: each takes a column and returns clean values and problems.

Every rule is vectorized with ``pyarrow.compute`` / numpy, and the ones that need a library call
per value (email-validator, phonenumbers) make it once per *distinct* value that a conservative
vectorized check could not settle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final
from zoneinfo import available_timezones

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email

#: ISO 3166-1 alpha-2 country codes (officially assigned).
_ISO_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
    ZW
"""
ISO_COUNTRIES: Final = frozenset(_ISO_CODES.split())

#: Pinpoint's endpoint quotas that apply per row.
MAX_ATTRIBUTE_VALUE_CHARS: Final = 100
MAX_ATTRIBUTE_VALUES: Final = 50
MAX_ATTRIBUTE_NAME_CHARS: Final = 50
MAX_TEXT_CHARS: Final = 256
MAX_ADDRESS_CHARS: Final = 1024
MAX_ENDPOINTS_PER_USER: Final = 10

# An address this pattern accepts is one email-validator accepts and leaves unchanged (ASCII dot
# atoms, lower-case LDH domain labels, an alphabetic TLD); anything else goes to email-validator.
_EMAIL_FAST: Final = (
    r"^[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"\.[a-z]{2,63}$"
)
_SPECIAL_USE_TLD: Final = r"\.(?:arpa|invalid|local|localhost|onion|test)$"
_NUMBER: Final = (
    r"^\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf|infinity))\s*$"
)
_LOCALE: Final = r"^[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*$"


@dataclass
class Problems:
    """Row problems found so far: per field, a mask and the reasons (one per row or one for all)."""

    n: int
    by_field: list[tuple[str, np.ndarray, np.ndarray | str]] = field(default_factory=list)

    def add(self, name: str, bad: np.ndarray, reason: np.ndarray | str) -> None:
        if bad.any():
            self.by_field.append((name, bad, reason))

    def any(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for _, bad, _ in self.by_field:
            out |= bad
        return out

    def table(self) -> pd.DataFrame:
        """One row per (row index, field) problem: ``row``, ``field``, ``reason``."""
        parts = []
        for name, bad, reason in self.by_field:
            idx = np.flatnonzero(bad)
            why = reason[idx] if isinstance(reason, np.ndarray) else np.full(len(idx), reason)
            parts.append(pd.DataFrame({"row": idx, "field": name, "reason": why.astype(object)}))
        if not parts:
            return pd.DataFrame({"row": [], "field": [], "reason": []})
        return pd.concat(parts, ignore_index=True)


def np_bool(arr: pa.Array | pa.ChunkedArray, null: bool = False) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, null).to_numpy(zero_copy_only=False), dtype=bool)


def as_string(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any scalar column as ``string``: trimmed, empty strings to null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        if pa.types.is_large_string(arr.type) or pa.types.is_dictionary(arr.type):
            arr = arr.cast(pa.string())
        elif pa.types.is_boolean(arr.type):
            arr = pc.if_else(arr, "true", "false")
        elif pa.types.is_timestamp(arr.type):
            arr = pc.strftime(arr, "%Y-%m-%dT%H:%M:%S.%fZ" if arr.type.tz else "%Y-%m-%dT%H:%M:%S")
        else:
            arr = arr.cast(pa.string())
    if len(arr) == 0:
        return arr
    trimmed = pc.ascii_trim_whitespace(arr)  # one fast pass; keep the copy only if it differs
    if pc.sum(pc.binary_length(trimmed)).as_py() != pc.sum(pc.binary_length(arr)).as_py():
        arr = trimmed
    del trimmed
    lengths = pc.binary_length(arr)
    if pc.min(lengths).as_py() == 0:
        arr = pc.if_else(pc.equal(lengths, 0), pa.scalar(None, pa.string()), arr)
    return arr


def check_length(name: str, arr: pa.Array, limit: int, problems: Problems) -> pa.Array:
    """Reject values longer than ``limit`` characters (they become null)."""
    longest = pc.max(pc.binary_length(arr)).as_py()
    if longest is None or longest <= limit:  # bytes >= characters: nothing to count
        return arr
    too_long = np_bool(pc.greater(pc.utf8_length(arr), limit))
    problems.add(name, too_long, f"longer than {limit} characters")
    return _null_where(arr, too_long)


def _null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def enum_values(
    name: str, arr: pa.Array, allowed: tuple[str, ...] | frozenset[str], problems: Problems
) -> pa.Array:
    """Upper-cased values that must be one of ``allowed``, checked once per distinct value."""
    encoded = pc.dictionary_encode(as_string(arr))
    upper = pc.utf8_upper(encoded.dictionary)
    ok = np.append(np_bool(pc.is_in(upper, pa.array(sorted(allowed), pa.string()))), True)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    bad = ~ok[codes]  # code -1 (null) picks the appended True
    values = upper.take(encoded.indices)
    if bad.any():
        shown = ", ".join(sorted(allowed)) if len(allowed) <= 15 else "ISO 3166-1 alpha-2 codes"
        words = np.array([f"{v!r} is not one of {shown}" for v in upper.to_pylist()], dtype=object)
        full = np.empty(len(codes), dtype=object)
        full[bad] = words[codes[bad]]
        problems.add(name, bad, full)
    return _null_where(values, bad)


def countries(name: str, arr: pa.Array, problems: Problems) -> pa.Array:
    return enum_values(name, arr, ISO_COUNTRIES, problems)


@lru_cache(maxsize=1)
def _zones() -> pa.Array:
    return pa.array(sorted(available_timezones()), pa.string())


def timezones(name: str, arr: pa.Array, problems: Problems) -> pa.Array:
    arr = as_string(arr)
    bad = np_bool(pc.invert(pc.is_in(arr, _zones()))) & np_bool(arr.is_valid())
    problems.add(name, bad, "not an IANA time zone (e.g. 'Europe/Berlin')")
    return _null_where(arr, bad)


def locales(name: str, arr: pa.Array, problems: Problems) -> pa.Array:
    arr = check_length(name, as_string(arr), 35, problems)
    bad = np_bool(pc.invert(pc.match_substring_regex(arr, _LOCALE)))
    bad &= np_bool(arr.is_valid())
    problems.add(name, bad, "not a locale such as 'en_US' (ISO 639 language, ISO 3166 region)")
    return _null_where(arr, bad)


def numbers(
    name: str,
    arr: pa.Array,
    problems: Problems,
    *,
    low: float | None = None,
    high: float | None = None,
) -> pa.Array:
    """Finite float64 values (from numbers or numeric strings), optionally within a range."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        values = arr.cast(pa.float64())
        bad = np.zeros(len(arr), dtype=bool)
    else:
        text = as_string(arr)
        try:  # every value a number: one cast
            values = pc.cast(text, pa.float64())
            bad = np.zeros(len(text), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = np_bool(pc.invert(pc.match_substring_regex(text, _NUMBER)))
            bad &= np_bool(text.is_valid())
            problems.add(name, bad, "not a number")
            values = pc.cast(_null_where(text, bad), pa.float64())
    finite = np_bool(pc.is_finite(values), null=True)
    out_of_range = ~finite & ~bad
    problems.add(name, out_of_range, "not a finite number")
    bad = bad | out_of_range
    if low is not None and high is not None:
        outside = np_bool(pc.or_(pc.less(values, low), pc.greater(values, high))) & ~bad
        problems.add(name, outside, f"outside [{low:g}, {high:g}]")
        bad |= outside
    return _null_where(values, bad)


def dates(name: str, arr: pa.Array, problems: Problems) -> pa.Array:
    """ISO 8601 date-times to ``timestamp[us, UTC]`` (no offset means UTC)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    target = pa.timestamp("us", tz="UTC")
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is None:
            arr = pc.assume_timezone(arr, "UTC")
        return arr.cast(target)
    text = as_string(arr)
    for target_type in (target, pa.timestamp("us")):
        try:  # Arrow's ISO 8601 parser, all at once
            values = text.cast(target_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return values if target_type == target else pc.assume_timezone(values, "UTC")
    uniq = pc.unique(text.drop_null())
    parsed = pd.to_datetime(
        pd.Series(uniq.to_numpy(zero_copy_only=False), dtype=object),
        utc=True,
        format="ISO8601",
        errors="coerce",
    )
    # pandas' ISO 8601 parser also reads "20260101": require a date with dashes
    shaped = np_bool(pc.match_substring_regex(uniq, r"^\d{4}-\d{2}-\d{2}(?:[T ].*)?$"))
    parsed = parsed.where(shaped)
    lookup = pa.array(parsed.dt.as_unit("us"), type=target)
    pos = pc.index_in(text, uniq)
    values = lookup.take(pos)
    bad = np_bool(values.is_null()) & np_bool(text.is_valid())
    problems.add(name, bad, "not an ISO 8601 date-time (e.g. 2026-11-01T09:30:00Z)")
    return values


def emails(addresses: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Email syntax by email-validator (no DNS); returns (normalized, bad mask, reasons)."""
    n = len(addresses)
    fast = np_bool(pc.match_substring_regex(addresses, _EMAIL_FAST))
    fast &= ~np_bool(pc.match_substring_regex(addresses, _SPECIAL_USE_TLD))
    fast &= np_bool(pc.less_equal(pc.utf8_length(addresses), 254))
    at = pc.find_substring(addresses, "@")
    fast &= np_bool(pc.less_equal(at, 64))
    bad = np.zeros(n, dtype=bool)
    reasons = np.empty(n, dtype=object)
    if fast.all():
        return addresses, bad, reasons
    out = np.asarray(addresses.to_numpy(zero_copy_only=False), dtype=object)
    cache: dict[str, tuple[str | None, str | None]] = {}
    for pos in np.flatnonzero(~fast).tolist():
        value = out[pos]
        res = cache.get(value)
        if res is None:
            try:
                res = (validate_email(value, check_deliverability=False).normalized, None)
            except EmailNotValidError as exc:
                res = (None, f"{value!r} is not a valid email address: {exc}")
            cache[value] = res
        out[pos], reasons[pos] = res
        bad[pos] = res[1] is not None
    return pa.array(out, pa.string()), bad, reasons


def string_lists(name: str, arr: pa.Array, problems: Problems) -> pa.Array:
    """Attribute values to ``list<string>``: scalars become one-item lists; a CSV cell holding a
    JSON array (``["a","b"]``) is a list. Pinpoint's per-attribute quotas apply."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        flat = arr.flatten()
        if not pa.types.is_string(flat.type):
            try:
                flat = as_string(flat)
            except pa.ArrowNotImplementedError:
                problems.add(name, np_bool(arr.is_valid()), "expected strings")
                return pa.nulls(n, pa.list_(pa.string()))
        lists = pa.ListArray.from_arrays(
            _offsets(arr), pc.fill_null(flat, ""), mask=pc.invert(arr.is_valid())
        )
    else:
        text = as_string(arr)
        bracket = np_bool(pc.starts_with(text, "["))
        lists = pa.array(
            _scalar_lists(text, bracket),
            pa.list_(pa.string()),
        )
        if bracket.any():
            lists = _json_lists(name, text, bracket, lists, problems)
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    too_many = np.nan_to_num(lengths.astype(float), nan=0) > MAX_ATTRIBUTE_VALUES
    problems.add(name, too_many, f"more than {MAX_ATTRIBUTE_VALUES} values")
    flat = lists.flatten()
    longest = pc.max(pc.binary_length(flat)).as_py() if len(flat) else None
    if longest is not None and longest > MAX_ATTRIBUTE_VALUE_CHARS:  # bytes >= characters
        long_value = np_bool(pc.greater(pc.utf8_length(flat), MAX_ATTRIBUTE_VALUE_CHARS))
        if long_value.any():
            parents = pc.list_parent_indices(lists).to_numpy()
            rows = np.zeros(n, dtype=bool)
            rows[parents[long_value]] = True
            problems.add(name, rows, f"a value longer than {MAX_ATTRIBUTE_VALUE_CHARS} characters")
            too_many = too_many | rows
    return _null_where(lists, too_many)


def _offsets(arr: pa.Array) -> pa.Array:
    offsets = arr.offsets.to_numpy()
    return pa.array((offsets - offsets[0]).astype(np.int32), pa.int32())


def _scalar_lists(text: pa.Array, bracket: np.ndarray) -> pa.Array:
    from engagekit.endpoints._schema import scalar_lists

    return scalar_lists(_null_where(text, bracket))


def _json_lists(
    name: str, text: pa.Array, bracket: np.ndarray, lists: pa.Array, problems: Problems
) -> pa.Array:
    """Parse the cells holding JSON arrays, once per distinct cell."""
    encoded = pc.dictionary_encode(text)
    distinct = encoded.dictionary
    parsed: list[list[str] | None] = [None] * len(distinct)
    failed = np.zeros(len(distinct) + 1, dtype=bool)  # the extra slot: null cells
    for i in np.flatnonzero(np_bool(pc.starts_with(distinct, "["))).tolist():
        try:
            value = json.loads(distinct[i].as_py())
        except ValueError:
            value = None
        if isinstance(value, list) and all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value
        ):
            parsed[i] = [v if isinstance(v, str) else json.dumps(v) for v in value]
        else:
            failed[i] = True
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    bad = failed[codes]
    problems.add(name, bad, 'a value starting with "[" must be a JSON array of strings')
    from_json = pa.array(parsed, pa.list_(pa.string())).take(encoded.indices)
    return pc.if_else(pa.array(bracket), from_json, lists)
