"""Allocation of recipients to treatments and holdout by hash buckets, and the SRM check.

A recipient's *unit* is ``User.UserId``, falling back to the endpoint ``Id`` when the user id is
missing. The unit and the campaign's salt are hashed into one of :data:`BUCKETS` (10,000)
buckets; each arm owns a contiguous range of buckets sized by its percent. So:

* all endpoints of one user share an arm (same unit, same bucket);
* recurring runs and reruns keep everyone in their arm (the hash depends on nothing else);
* adding endpoints later moves no one (a unit's bucket ignores the rest of the frame);
* the holdout owns the *first* buckets, so resizing treatments never moves the control group.

The hash is defined on bytes, implemented with numpy only, and pinned by golden values in
the tests, so it is the same in every process, platform and library version. Two stages:

* the *unit key* ``ek64(b)`` of the unit's UTF-8 bytes ``b`` (salt-free, reusable as a join key):
  ``h = SEED ^ (len(b) * 0x9E3779B97F4A7C15)``; for each 8-byte little-endian word ``w`` of
  ``b`` zero-padded to a multiple of 8 bytes, ``h = fmix(h ^ w)``; finally ``fmix(h + SEED)``,
  with ``fmix`` the SplitMix64 finalizer, ``SEED = 0x243F6A8885A308D3`` and arithmetic mod 2**64;
* the *bucket* under a campaign's salt: ``fmix(key ^ salt_key(salt)) % 10000`` where
  ``salt_key`` is ``blake2b(salt.encode("utf-8"), digest_size=8)`` read little-endian.

>>> import pandas as pd
>>> from engagekit.experiments import Arm, allocate, buckets
>>> b = buckets(pd.Series(["user-1", "user-2"]), salt="spring-sale")
>>> arms = [Arm("holdout", 10, holdout=True), Arm("0", 45), Arm("1", 45)]
>>> list(allocate(b, arms))  # doctest: +SKIP
['1', '0']
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.errors import DefinitionError

if TYPE_CHECKING:
    from engagekit.stats import SrmResult

BUCKETS: Final = 10_000
_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_SEED: Final = np.uint64(0x243F6A8885A308D3)
_BLOCK: Final = 1 << 17  # rows mixed at a time (2 MB of uint64: stays in cache)
_MASK64: Final = (1 << 64) - 1


def salt_key(salt: str) -> int:
    """The 64-bit key derived from a campaign's salt (blake2b, 8 bytes, little-endian)."""
    return int.from_bytes(hashlib.blake2b(salt.encode("utf-8"), digest_size=8).digest(), "little")


def _fmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer, in place on a uint64 array (wrap-around multiplication)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def unit_keys(units: pd.Series | pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
    """``ek64`` of each string (uint64 array, salt-free). Nulls hash as the empty string.

    Vectorized over Arrow's string buffer: the k-th 8-byte word of every string is gathered
    through an unaligned uint64 view of the bytes and masked to the string's length; the mixing
    runs in cache-sized blocks of rows.
    """
    chunks = _large_string_chunks(units)
    n = sum(len(c) for c in chunks)
    out = np.empty(n, dtype=np.uint64)
    if n == 0:
        return out
    # every chunk's bytes side by side in one buffer (8 spare bytes: every gather is in bounds)
    spans = []
    for c in chunks:
        offsets = np.frombuffer(c.buffers()[1], dtype=np.int64)[c.offset : c.offset + len(c) + 1]
        spans.append((c, offsets, int(offsets[0]), int(offsets[-1])))
    buf = np.zeros(sum(hi - lo for _, _, lo, hi in spans) + 8, dtype=np.uint8)
    starts = np.empty(n, dtype=np.int64)
    lengths = np.empty(n, dtype=np.int64)
    at = row = 0
    for c, offsets, lo, hi in spans:
        if hi > lo:
            buf[at : at + hi - lo] = np.frombuffer(c.buffers()[2], dtype=np.uint8)[lo:hi]
        starts[row : row + len(c)] = offsets[:-1] - lo + at
        lengths[row : row + len(c)] = np.diff(offsets)
        at += hi - lo
        row += len(c)
    words = np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    top = len(words) - 1
    with np.errstate(over="ignore"):
        for lo in range(0, n, _BLOCK):
            hi = min(n, lo + _BLOCK)
            length = lengths[lo:hi]
            h = _SEED ^ (length.astype(np.uint64) * _GOLDEN)
            shortest, longest = int(length.min()), int(length.max())
            for k in range(-(-longest // 8)):
                if shortest == longest:  # one length in the block: scalar masks, no branches
                    w = words[starts[lo:hi] + 8 * k]
                    if longest - 8 * k < 8:
                        w &= np.uint64((1 << (8 * (longest - 8 * k))) - 1)
                    h ^= w
                    _fmix(h)
                    continue
                remaining = length - 8 * k
                w = words[np.minimum(starts[lo:hi] + 8 * k, top)]
                partial = remaining < 8
                if partial.any():
                    keep = np.clip(remaining, 0, 7).astype(np.uint64) * np.uint64(8)
                    w = np.where(partial, w & ((np.uint64(1) << keep) - np.uint64(1)), w)
                active = remaining > 0
                if active.all():
                    h ^= w
                    _fmix(h)
                else:
                    mixed = _fmix(h ^ w)
                    h = np.where(active, mixed, h)
            h += _SEED
            out[lo:hi] = _fmix(h)
    return out


def salted(keys: np.ndarray, salt: str) -> np.ndarray:
    """Unit keys mixed with a campaign's salt (a new uint64 array)."""
    key = np.uint64(salt_key(salt))
    out = np.empty(len(keys), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lo in range(0, len(keys), _BLOCK):
            block = keys[lo : lo + _BLOCK] ^ key
            out[lo : lo + _BLOCK] = _fmix(block)
    return out


def keys_to_buckets(keys: np.ndarray, salt: str) -> np.ndarray:
    """The bucket (0 … 9,999) of each unit key under ``salt`` (int16 array)."""
    return (salted(keys, salt) % np.uint64(BUCKETS)).astype(np.int16)


def hash_units(
    units: pd.Series | pa.Array | pa.ChunkedArray | Sequence[str], salt: str
) -> np.ndarray:
    """The salted 64-bit hash of each unit (``fmix(ek64(unit) ^ salt_key(salt))``)."""
    return salted(unit_keys(units), salt)


def _large_string_chunks(
    units: pd.Series | pa.Array | pa.ChunkedArray | Sequence[str],
) -> list[pa.Array]:
    """The strings as ``large_string`` chunks without nulls (a null becomes "")."""
    if isinstance(units, pa.ChunkedArray):
        chunks = list(units.chunks)
    elif isinstance(units, pa.Array):
        chunks = [units]
    else:
        arr = _as_large_string(units)
        chunks = [arr]
    out = []
    for c in chunks:
        if pa.types.is_dictionary(c.type):
            c = c.cast(c.type.value_type)
        c = c.cast(pa.large_string())
        out.append(pc.fill_null(c, "") if c.null_count else c)
    return out


def _as_large_string(units: pd.Series | pa.Array | pa.ChunkedArray | Sequence[str]) -> pa.Array:
    if isinstance(units, pd.Series):
        arr = pa.array(units.astype("string"), from_pandas=True)
    elif isinstance(units, (pa.Array, pa.ChunkedArray)):
        arr = units
    else:
        arr = pa.array(list(units), type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr.cast(pa.large_string())


def reference_hash(unit: str, salt: str | None = None) -> int:
    """The specification in plain Python: ``ek64(unit)``, salted when ``salt`` is given."""
    data = unit.encode("utf-8")

    def fmix(x: int) -> int:
        x ^= x >> 30
        x = (x * 0xBF58476D1CE4E5B9) & _MASK64
        x ^= x >> 27
        x = (x * 0x94D049BB133111EB) & _MASK64
        return x ^ (x >> 31)

    seed = int(_SEED)
    h = seed ^ ((len(data) * 0x9E3779B97F4A7C15) & _MASK64)
    padded = data + b"\x00" * (-len(data) % 8)
    for i in range(0, len(padded), 8):
        h = fmix(h ^ int.from_bytes(padded[i : i + 8], "little"))
    key = fmix((h + seed) & _MASK64)
    return key if salt is None else fmix(key ^ salt_key(salt))


def units(
    endpoints: pd.DataFrame, *, col_user: str = "User.UserId", col_id: str = "Id"
) -> pa.Array:
    """Each endpoint's allocation unit: its user id, or its endpoint id when that is missing."""
    ids = pa.array(endpoints[col_id].astype("string"), from_pandas=True)
    if col_user not in endpoints.columns:
        return ids
    users = pa.array(endpoints[col_user].astype("string"), from_pandas=True)
    empty = pc.equal(pc.binary_length(users), 0)
    if users.null_count == 0 and not pc.any(empty).as_py():
        return users
    return pc.if_else(pc.fill_null(empty, True), ids, users)


def buckets(units_: pd.Series | pa.Array | Sequence[str], salt: str) -> np.ndarray:
    """The bucket (0 … 9,999) of each unit under ``salt`` (int16 array)."""
    return keys_to_buckets(unit_keys(units_), salt)


def endpoint_buckets(
    endpoints: pd.DataFrame, salt: str, *, col_user: str = "User.UserId", col_id: str = "Id"
) -> np.ndarray:
    """Buckets of an endpoint frame's rows (user id, falling back to endpoint id)."""
    return buckets(units(endpoints, col_user=col_user, col_id=col_id), salt)


@dataclass(frozen=True)
class Arm:
    """One arm of an allocation: a name, its share in percent, and whether it is the holdout."""

    name: str
    percent: float
    holdout: bool = False


@dataclass(frozen=True)
class Allocation:
    """Arms laid over the 10,000 buckets: arm ``i`` owns buckets ``[starts[i], ends[i])``."""

    arms: tuple[Arm, ...]
    starts: tuple[int, ...] = field(init=False)
    ends: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        total = sum(a.percent for a in self.arms)
        if abs(total - 100) > 1e-9:
            raise DefinitionError(
                f"arm percents must sum to 100, got {total:g} "
                f"({', '.join(f'{a.name}={a.percent:g}' for a in self.arms)})",
                path="Treatments",
            )
        if any(a.percent < 0 for a in self.arms):
            raise DefinitionError("arm percents must be >= 0", path="Treatments")
        # holdout first: resizing treatments never moves the control group
        ordered = sorted(self.arms, key=lambda a: not a.holdout)
        object.__setattr__(self, "arms", tuple(ordered))
        edges = np.rint(np.cumsum([0.0] + [a.percent for a in ordered]) * BUCKETS / 100)
        object.__setattr__(self, "starts", tuple(int(e) for e in edges[:-1]))
        object.__setattr__(self, "ends", tuple(int(e) for e in edges[1:]))

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.arms]

    def shares(self) -> dict[str, float]:
        """The design share (0–1) of each arm, as the bucket ranges realize it."""
        return {
            a.name: (e - s) / BUCKETS
            for a, s, e in zip(self.arms, self.starts, self.ends, strict=True)
        }

    def arm_index(self, bucket: np.ndarray) -> np.ndarray:
        """Index into :attr:`arms` of each bucket (int8), by a 10,000-entry lookup table."""
        widths = np.diff(np.asarray((0, *self.ends)))
        table = np.repeat(np.arange(len(self.arms), dtype=np.int8), widths)
        return table[bucket]

    def assign(self, bucket: np.ndarray) -> pd.Categorical:
        """The arm name of each bucket, as a categorical in arm order."""
        return pd.Categorical.from_codes(self.arm_index(bucket), categories=self.names)


def allocate(bucket: np.ndarray, arms: Sequence[Arm]) -> pd.Categorical:
    """Arm names for buckets under ``arms`` (holdout first, then the given order)."""
    return Allocation(tuple(arms)).assign(np.asarray(bucket))


def srm_check(
    observed: Mapping[str, int] | pd.Series,
    design: Mapping[str, float],
    *,
    threshold: float = 0.001,
) -> SrmResult:
    """Sample-ratio-mismatch check of counts per arm against design shares (percent or
    fractions), via :func:`engagekit.stats.srm` (Pearson chi-square; flagged when p < 0.001).

    Count *units* (users), not endpoints: endpoints of one user share an arm, so they are not
    independent draws.

    >>> srm_check({"a": 5000, "b": 5000}, {"a": 50, "b": 50}).flagged
    False
    """
    counts = {str(k): int(v) for k, v in dict(observed).items()}
    weights = {str(k): float(v) for k, v in design.items()}
    from engagekit.stats import srm  # scipy is heavy: import it when a check runs

    return srm(counts, weights, threshold=threshold)


__all__ = [
    "BUCKETS",
    "Allocation",
    "Arm",
    "allocate",
    "buckets",
    "endpoint_buckets",
    "hash_units",
    "keys_to_buckets",
    "reference_hash",
    "salt_key",
    "salted",
    "srm_check",
    "unit_keys",
    "units",
]
