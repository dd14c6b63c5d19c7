"""Phone numbers to E.164 with ``phonenumbers``, vectorized for the common case.

``phonenumbers.parse`` + ``is_valid_number`` cost about 20 µs per number: 400k distinct numbers
would take 8 s. Numbers already written in E.164 (``+<country code><national number>``) are
checked here with the library's own metadata (its national-number patterns and possible lengths,
compiled once per country code into RE2 expressions run by ``pyarrow.compute``), following
``is_valid_number``'s region choice exactly. Everything else (national formats, spaces, prefixes,
numbers whose country code has a pattern RE2 cannot compile) goes through ``phonenumbers`` itself,
once per distinct (number, country) pair. ``tests/test_endpoints.py`` checks that both paths agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers.phonemetadata import PhoneMetadata

_E164 = r"^\+[1-9][0-9]{6,14}$"
_TYPE_ATTRS = (  # most numbers are mobile or fixed-line: test those first
    "mobile",
    "fixed_line",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


@dataclass(frozen=True)
class _Region:
    general: str
    general_lengths: tuple[int, ...]
    types: tuple[tuple[str, tuple[int, ...]], ...]
    leading_digits: str | None
    national_prefix: str | None


def _metadata(cc: int, region: str) -> PhoneMetadata | None:
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return PhoneMetadata.metadata_for_nongeo_region(cc)
    return PhoneMetadata.metadata_for_region(region)


def _re2_ok(pattern: str) -> bool:
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


@lru_cache(maxsize=512)
def _regions(cc: int) -> tuple[_Region, ...] | None:
    """The regions sharing a country code, in the library's order; None: use the slow path."""
    out = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, ()):
        md = _metadata(cc, region)
        if md is None or md.general_desc is None or not md.general_desc.national_number_pattern:
            continue
        types = []
        for attr in _TYPE_ATTRS:
            desc = getattr(md, attr, None)
            if desc is not None and desc.national_number_pattern:
                types.append((f"^(?:{desc.national_number_pattern})$", tuple(desc.possible_length)))
        prefix = md.national_prefix_for_parsing or md.national_prefix
        region_ = _Region(
            general=f"^(?:{md.general_desc.national_number_pattern})$",
            general_lengths=tuple(md.general_desc.possible_length),
            types=tuple(types),
            leading_digits=f"^(?:{md.leading_digits})" if md.leading_digits else None,
            national_prefix=f"^(?:{prefix})" if prefix else None,
        )
        patterns = [region_.general, *(t[0] for t in region_.types)]
        patterns += [p for p in (region_.leading_digits, region_.national_prefix) if p]
        if not all(_re2_ok(p) for p in patterns):
            return None
        out.append(region_)
    return tuple(out) if out else None


def _matches(
    nsn: pa.Array, pattern: str, lengths: tuple[int, ...], n_len: np.ndarray
) -> np.ndarray:
    ok = pc.match_substring_regex(nsn, pattern).to_numpy(zero_copy_only=False)
    if lengths:
        ok &= np.isin(n_len, np.array(lengths))
    return ok


def _valid_in_region(nsn: pa.Array, n_len: np.ndarray, r: _Region, rows: np.ndarray) -> np.ndarray:
    """``is_valid_number`` within one region, evaluated on ``rows`` only (others False): the
    general pattern, then the number types in turn on the rows no type has matched yet."""
    out = np.zeros(len(nsn), dtype=bool)
    idx = np.flatnonzero(rows)
    sub, sub_len = nsn.take(pa.array(idx)), n_len[idx]
    general = _matches(sub, r.general, r.general_lengths, sub_len)
    pending = np.flatnonzero(general)
    for pattern, lengths in r.types:
        if not len(pending):
            break
        hit = _matches(sub.take(pa.array(pending)), pattern, lengths, sub_len[pending])
        out[idx[pending[hit]]] = True
        pending = pending[~hit]
    return out


def _fast_valid(numbers: pa.Array) -> np.ndarray:
    """True where an E.164 string is a valid number and the library would keep it unchanged;
    False means "not decided here" (the slow path decides)."""
    n = len(numbers)
    result = np.zeros(n, dtype=bool)
    shape_ok = pc.fill_null(pc.match_substring_regex(numbers, _E164), False).to_numpy(
        zero_copy_only=False
    )
    if not shape_ok.any():
        return result
    idx = np.flatnonzero(shape_ok)
    cand = numbers.take(pa.array(idx))
    cc = np.full(len(idx), -1, dtype=np.int64)
    for width in (1, 2, 3):
        head = pc.cast(pc.utf8_slice_codeunits(cand, 1, 1 + width), pa.int64()).to_numpy()
        known = np.isin(head, np.fromiter(phonenumbers.COUNTRY_CODE_TO_REGION_CODE, np.int64))
        cc = np.where((cc < 0) & known, head, cc)
    for code in np.unique(cc[cc >= 0]):
        regions = _regions(int(code))
        if not regions:
            continue
        sel = np.flatnonzero(cc == code)
        width = len(str(code))
        nsn = pc.utf8_slice_codeunits(cand.take(pa.array(sel)), 1 + width)
        n_len = pc.utf8_length(nsn).to_numpy()
        undecided = np.ones(len(sel), dtype=bool)
        valid = np.zeros(len(sel), dtype=bool)
        blocked = np.zeros(len(sel), dtype=bool)
        for r in regions:
            if not undecided.any():
                break
            valid_here = _valid_in_region(nsn, n_len, r, undecided)
            if r.national_prefix:  # parse() might strip a prefix: leave those to the library
                blocked |= pc.match_substring_regex(nsn, r.national_prefix).to_numpy(
                    zero_copy_only=False
                )
            if r.leading_digits:
                chosen = pc.match_substring_regex(nsn, r.leading_digits).to_numpy(
                    zero_copy_only=False
                )
            else:
                chosen = valid_here
            chosen = chosen & undecided
            valid[chosen] = valid_here[chosen]
            undecided &= ~chosen
        result[idx[sel]] = valid & ~blocked
    return result


def _slow_one(number: str, country: str | None) -> tuple[str | None, str | None]:
    region = country if country else None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            if not number.lstrip().startswith("+"):
                return None, (
                    f"{number!r} has no +country code and the endpoint has no valid "
                    "Location.Country to read it in"
                )
            return None, f"{number!r} has an unknown country code"
        return None, f"{number!r} is not a phone number ({exc._msg})"
    if not phonenumbers.is_valid_number(parsed):
        where = f" in {country}" if country and not number.lstrip().startswith("+") else ""
        return None, f"{number!r} is not a valid phone number{where}"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None


def to_e164(numbers: pa.Array, countries: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Normalize phone numbers; returns (E.164 strings, bad mask, reasons for bad rows).

    ``numbers`` and ``countries`` are string arrays of equal length without nulls in
    ``numbers``; a number without ``+`` is read in its row's country.
    """
    n = len(numbers)
    bad = np.zeros(n, dtype=bool)
    reasons = np.empty(n, dtype=object)
    fast = _fast_valid(numbers)
    slow = np.flatnonzero(~fast)
    if not len(slow):
        return numbers, bad, reasons
    values = numbers.take(pa.array(slow)).to_pylist()
    ctry = countries.take(pa.array(slow)).to_pylist()
    cache: dict[tuple[str, str | None], tuple[str | None, str | None]] = {}
    fixed: list[str | None] = []
    for pos, key in zip(slow.tolist(), zip(values, ctry, strict=True), strict=True):
        res = cache.get(key)
        if res is None:
            res = cache[key] = _slow_one(key[0], key[1])
        fixed.append(res[0])
        if res[1] is not None:
            bad[pos] = True
            reasons[pos] = res[1]
    positions = np.zeros(n, dtype=np.int64)
    positions[slow] = np.arange(len(slow))
    slow_values = pa.array(fixed, pa.string()).take(pa.array(positions))
    return pc.if_else(pa.array(fast), numbers, slow_values), bad, reasons
