"""Endpoint frames to and from Arrow (the snapshot's on-disk form)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.endpoints._schema import (
    CORE_COLUMNS,
    LIST_DTYPE,
    STRING_DTYPE,
    column_dtype,
    is_list_column,
    is_metric_column,
    normalize_endpoints,
)

LIST_TYPE = pa.list_(pa.string())
TS_TYPE = pa.timestamp("us", tz="UTC")


def arrow_type(name: str) -> pa.DataType:
    """The plain (undictionaried) Arrow type of an endpoint column."""
    dtype = column_dtype(name)
    if is_list_column(name):
        return LIST_TYPE
    if is_metric_column(name) or dtype == "float64":
        return pa.float64()
    if isinstance(dtype, pd.DatetimeTZDtype):
        return TS_TYPE
    return pa.string()


def is_category(name: str) -> bool:
    return isinstance(column_dtype(name), pd.CategoricalDtype) or column_dtype(name) == "category"


def plain(table: pa.Table) -> pa.Table:
    """Every column in its plain type (dictionaries decoded, large strings narrowed)."""
    arrays = []
    for name in table.column_names:
        col = table.column(name)
        target = arrow_type(name) if not name.startswith("__") else col.type
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if col.type != target:
            col = col.cast(target)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, names=table.column_names)


def to_storage(table: pa.Table) -> pa.Table:
    """Plain table to the snapshot's form: categories dictionary-encoded (in parallel threads
    for large tables), core columns first."""
    names = [c for c in CORE_COLUMNS if c in table.column_names]
    names += [c for c in table.column_names if c not in CORE_COLUMNS]

    def encode(name: str) -> pa.ChunkedArray | pa.Array:
        col = table.column(name)
        if is_category(name) and not pa.types.is_dictionary(col.type):
            return pc.dictionary_encode(col.cast(pa.string()))
        return col

    workers = min(os.cpu_count() or 1, 4)
    if workers > 1 and table.num_rows >= 50_000:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            arrays = list(pool.map(encode, names))
    else:
        arrays = [encode(name) for name in names]
    return pa.Table.from_arrays(arrays, names=names)


def frame_to_table(df: pd.DataFrame) -> pa.Table:
    """A normalized endpoint frame as a plain Arrow table."""
    df = normalize_endpoints(df)
    arrays = []
    for name in df.columns:
        s = df[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            arr = pa.array(s.astype(STRING_DTYPE).array, type=pa.string())
        else:
            arr = pa.array(s.array, from_pandas=True)
        target = arrow_type(name)
        if arr.type != target:
            arr = arr.cast(target)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(df.columns))


def _types_mapper(t: pa.DataType) -> Any:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return STRING_DTYPE
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return LIST_DTYPE
    return None


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A snapshot table as a normalized endpoint frame (RangeIndex)."""
    table = table.replace_schema_metadata(None)
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_large_list(col.type):
            col = col.cast(LIST_TYPE)
        if pa.types.is_dictionary(col.type):
            col = col.unify_dictionaries() if isinstance(col, pa.ChunkedArray) else col
            arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            categories = pd.Index(
                arr.dictionary.cast(pa.string()).to_pandas(types_mapper=_types_mapper),
                dtype=STRING_DTYPE,
            )
            codes = pc.fill_null(arr.indices.cast(pa.int32()), -1).to_numpy()
            cat = pd.Categorical.from_codes(codes, categories=categories)
            if not categories.is_monotonic_increasing:  # the order pandas itself would choose
                cat = cat.reorder_categories(categories.sort_values())
            cols[name] = pd.Series(cat)
        else:
            cols[name] = col.to_pandas(types_mapper=_types_mapper)
    df = pd.DataFrame(cols)
    return normalize_endpoints(df)
