"""Endpoints: Pinpoint's endpoint schema held as a pandas DataFrame with flattened column names.

One row per endpoint (an address on a channel). Columns use Pinpoint's dotted names:
``Id``, ``ChannelType``, ``Address``, ``EndpointStatus``, ``OptOut``, ``EffectiveDate``,
``CreationDate``, ``Location.*``, ``Demographic.*``, ``User.UserId``, and the open families
``Attributes.<name>`` / ``User.UserAttributes.<name>`` (lists of strings, pyarrow list dtype) and
``Metrics.<name>`` (float64).

    >>> import pandas as pd
    >>> from engagekit.endpoints import normalize_endpoints
    >>> df = normalize_endpoints(pd.DataFrame({"Id": ["e1"], "ChannelType": ["EMAIL"],
    ...     "Address": ["ada@example.com"], "Attributes.plan": ["pro"]}))
    >>> df["Attributes.plan"].iloc[0]
    ['pro']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute

CHANNEL_TYPES: Final = (
    "EMAIL", "SMS", "VOICE", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX",
    "GCM", "BAIDU", "ADM", "IN_APP", "CUSTOM", "PUSH",
)  # fmt: skip
PUSH_CHANNEL_TYPES: Final = frozenset(
    {"APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "GCM", "BAIDU", "ADM", "PUSH"}
)
ENDPOINT_STATUSES: Final = ("ACTIVE", "INACTIVE")
OPT_OUT_VALUES: Final = ("NONE", "ALL")

LIST_DTYPE: Final = pd.ArrowDtype(pa.list_(pa.string()))
STRING_DTYPE: Final = pd.StringDtype()
TIMESTAMP_DTYPE: Final = pd.DatetimeTZDtype("us", "UTC")

ATTRIBUTE_PREFIX: Final = "Attributes."
USER_ATTRIBUTE_PREFIX: Final = "User.UserAttributes."
METRIC_PREFIX: Final = "Metrics."
USER_METRIC_PREFIX: Final = "User.UserMetrics."  # engagekit extension, numbers like Metrics

#: The fixed columns every endpoint frame has, with their dtypes.
CORE_COLUMNS: Final[dict[str, Any]] = {
    "Id": STRING_DTYPE,
    "ChannelType": pd.CategoricalDtype(CHANNEL_TYPES),
    "Address": STRING_DTYPE,
    "EndpointStatus": pd.CategoricalDtype(ENDPOINT_STATUSES),
    "OptOut": pd.CategoricalDtype(OPT_OUT_VALUES),
    "EffectiveDate": TIMESTAMP_DTYPE,
    "CreationDate": TIMESTAMP_DTYPE,
    "Location.Latitude": "float64",
    "Location.Longitude": "float64",
    "Location.PostalCode": STRING_DTYPE,
    "Location.City": "category",
    "Location.Region": "category",
    "Location.Country": "category",
    "Demographic.Make": "category",
    "Demographic.Model": "category",
    "Demographic.ModelVersion": "category",
    "Demographic.Timezone": "category",
    "Demographic.Locale": "category",
    "Demographic.AppVersion": "category",
    "Demographic.Platform": "category",
    "Demographic.PlatformVersion": "category",
    "User.UserId": STRING_DTYPE,
}


def is_list_column(name: str) -> bool:
    """Custom attributes (endpoint and user) hold lists of strings."""
    return name.startswith((ATTRIBUTE_PREFIX, USER_ATTRIBUTE_PREFIX))


def is_metric_column(name: str) -> bool:
    return name.startswith((METRIC_PREFIX, USER_METRIC_PREFIX))


def column_dtype(name: str) -> Any:
    """The dtype engagekit uses for a column name (core, list attribute, metric or string)."""
    if name in CORE_COLUMNS:
        return CORE_COLUMNS[name]
    if is_list_column(name):
        return LIST_DTYPE
    if is_metric_column(name):
        return "float64"
    return STRING_DTYPE


def to_list_array(values: Iterable[Any]) -> pa.Array:
    """Values to a ``list<string>`` array: a scalar becomes a one-item list, None stays null."""
    out: list[list[str] | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out.append(None)
        elif isinstance(v, (list, tuple, np.ndarray)):
            out.append([str(x) for x in v])
        else:
            out.append([str(v)])
    return pa.array(out, type=pa.list_(pa.string()))


def normalize_endpoints(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with engagekit's endpoint dtypes and every core column present.

    Missing core columns are added as nulls; list attributes accept scalars; the input is not
    mutated. Values are converted, not validated (validation happens on import).
    """
    out: dict[str, pd.Series] = {}
    n = len(df)
    for name, dtype in CORE_COLUMNS.items():
        if name in df.columns:
            out[name] = _convert(df[name], name, dtype)
        else:
            out[name] = _nulls(n, dtype, df.index)
    for name in df.columns:
        if name not in CORE_COLUMNS:
            out[name] = _convert(df[name], name, column_dtype(name))
    return pd.DataFrame(out, index=df.index)


def _convert(s: pd.Series, name: str, dtype: Any) -> pd.Series:
    if dtype is LIST_DTYPE:
        if isinstance(s.dtype, pd.ArrowDtype) and s.dtype == LIST_DTYPE:
            return s.copy()
        if isinstance(s.dtype, pd.StringDtype) or (s.dtype == object and _all_str_or_na(s)):
            strings = pa.array(s.astype(STRING_DTYPE).array, type=pa.string())
            return pd.Series(pd.arrays.ArrowExtensionArray(scalar_lists(strings)), index=s.index)
        return pd.Series(pd.arrays.ArrowExtensionArray(to_list_array(s.tolist())), index=s.index)
    if isinstance(dtype, pd.DatetimeTZDtype):
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            return s.dt.tz_convert("UTC").astype(dtype)
        return pd.to_datetime(s, utc=True, format="ISO8601").astype(dtype)
    if dtype == "float64":
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None:
        if isinstance(s.dtype, pd.CategoricalDtype):  # recode, no string round trip
            return _string_categories(s).astype(dtype)
        return s.astype(STRING_DTYPE).astype(dtype)
    if dtype == "category":
        if isinstance(s.dtype, pd.CategoricalDtype):
            return _string_categories(s)
        return s.astype(STRING_DTYPE).astype("category")
    return s.astype(dtype)


def _string_categories(s: pd.Series) -> pd.Series:
    """A categorical whose categories are strings (renamed in place of re-encoding values)."""
    cats = s.cat.categories
    if isinstance(cats.dtype, pd.StringDtype) and cats.dtype.na_value is pd.NA:
        return s.copy()
    return s.cat.rename_categories(pd.Index(cats.astype(str), dtype=STRING_DTYPE))


def _nulls(n: int, dtype: Any, index: pd.Index) -> pd.Series:
    """An all-null column of ``dtype`` without building Python objects."""
    if dtype is LIST_DTYPE:
        return pd.Series(
            pd.arrays.ArrowExtensionArray(pa.nulls(n, pa.list_(pa.string()))), index=index
        )
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.Series(
            pd.DatetimeIndex(np.full(n, np.datetime64("NaT", "us"))).tz_localize("UTC"), index=index
        )
    if dtype == "float64":
        return pd.Series(np.full(n, np.nan), index=index)
    if isinstance(dtype, pd.CategoricalDtype) or dtype == "category":
        cats = (
            dtype.categories
            if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None
            else pd.Index([], dtype=STRING_DTYPE)
        )
        return pd.Series(
            pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), categories=cats), index=index
        )
    return pd.Series(pd.array(pa.nulls(n, pa.string()), dtype=STRING_DTYPE), index=index)


def _all_str_or_na(s: pd.Series) -> bool:
    return bool(s.map(lambda v: v is None or v is pd.NA or isinstance(v, str) or v != v).all())


def scalar_lists(strings: pa.Array) -> pa.Array:
    """A ``string`` array to ``list<string>``: each value a one-item list, nulls stay null."""
    strings = strings.cast(pa.string())
    valid = strings.is_valid()
    lengths = pa.compute.cast(valid, pa.int32())
    offsets = np.concatenate([[0], np.cumsum(lengths.to_numpy(zero_copy_only=False))]).astype(
        np.int32
    )
    values = strings.filter(valid)
    mask = pa.compute.invert(valid)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, mask=mask)


def attribute_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(ATTRIBUTE_PREFIX)]


def metric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if is_metric_column(c)]


def user_attribute_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(USER_ATTRIBUTE_PREFIX)]


__all__ = [
    "ATTRIBUTE_PREFIX",
    "CHANNEL_TYPES",
    "CORE_COLUMNS",
    "ENDPOINT_STATUSES",
    "LIST_DTYPE",
    "METRIC_PREFIX",
    "OPT_OUT_VALUES",
    "PUSH_CHANNEL_TYPES",
    "STRING_DTYPE",
    "TIMESTAMP_DTYPE",
    "USER_ATTRIBUTE_PREFIX",
    "USER_METRIC_PREFIX",
    "attribute_columns",
    "column_dtype",
    "is_list_column",
    "is_metric_column",
    "metric_columns",
    "normalize_endpoints",
    "scalar_lists",
    "to_list_array",
    "user_attribute_columns",
]
