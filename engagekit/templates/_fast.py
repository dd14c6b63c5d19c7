"""The fast batch engine: render each fragment once per distinct combination of what it reads.

See :mod:`engagekit.templates._batch` for the idea; tests compare it with the row-by-row engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pybars._compiler as _pc

from engagekit.errors import TemplateError
from engagekit.templates import _analysis as A
from engagekit.templates import _compile as C
from engagekit.templates import _parse as P
from engagekit.templates._context import (
    column_path,
    endpoint_context,
    is_missing,
    to_context_value,
)

#: a rendered piece for the selected rows: one string for all, or an Arrow array (one per row)
Piece: TypeAlias = Any  # str | pa.Array (pyarrow has no type stubs)
LS = pa.large_string()


class _Failure(Exception):
    """A fragment failed for a group of rows (message without the endpoint id)."""


class _Rows:
    """Column access for one batch: codes per column, values at chosen positions."""

    def __init__(self, rows: pd.DataFrame, defaults: Mapping[str, Any] | None) -> None:
        self.rows = rows
        self.n = len(rows)
        self.defaults = defaults
        self.paths = {c: column_path(str(c)) for c in rows.columns}
        self._codes: dict[str, np.ndarray] = {}
        self._objects: dict[str, np.ndarray] = {}

    def columns_for(self, reads: A.Reads) -> list[str]:
        if reads.everything:
            return list(self.rows.columns)
        out = []
        for col, path in self.paths.items():
            for d in reads.paths:
                k = min(len(d), len(path))
                if d[:k] == path[:k]:
                    out.append(col)
                    break
        return out

    def codes(self, col: str) -> np.ndarray:
        """Dense int codes per row, 0 for missing, equal values share a code."""
        got = self._codes.get(col)
        if got is not None:
            return got
        s = self.rows[col]
        dtype = s.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(np.int64) + 1
        elif _is_string_list(dtype) and not _has_null_items(s):
            arr = pa.chunked_array(s.array._pa_array).combine_chunks()  # type: ignore[attr-defined]
            length = pc.cast(pc.list_value_length(arr), pa.string())
            joined = pc.binary_join(arr, "\x1f")
            key = pc.binary_join_element_wise(length, joined, "\x1e")
            empty = pc.equal(pc.list_value_length(arr), 0)
            key = pc.if_else(empty, pa.scalar(None, pa.string()), key)
            enc = (
                pc.dictionary_encode(key).combine_chunks()
                if hasattr(key, "chunks")
                else (pc.dictionary_encode(key))
            )
            idx = enc.indices.to_numpy(zero_copy_only=False)
            valid = enc.indices.is_valid().to_numpy(zero_copy_only=False)
            codes = np.where(valid, np.nan_to_num(idx, nan=-1).astype(np.int64) + 1, 0)
        else:
            try:
                codes = pd.factorize(s, use_na_sentinel=True)[0].astype(np.int64) + 1
            except (TypeError, NotImplementedError, pa.ArrowException):  # unhashable cells
                keys = [None if is_missing(v) else _key(v) for v in s.to_numpy(dtype=object)]
                codes = pd.factorize(pd.Series(keys, dtype=object))[0].astype(np.int64) + 1
        self._codes[col] = codes
        return codes

    def objects(self, col: str, positions: np.ndarray) -> np.ndarray:
        return self.rows[col].take(positions).to_numpy(dtype=object, na_value=None)

    def contexts(self, cols: list[str], positions: np.ndarray) -> list[dict[str, Any]]:
        values = [self.objects(c, positions) for c in cols]
        out = []
        for i in range(len(positions)):
            record = {c: v[i] for c, v in zip(cols, values, strict=True)}
            out.append(endpoint_context(record, self.defaults))
        return out

    def group(self, cols: list[str], sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(group code per selected row, representative position per group)."""
        if not cols or len(sel) == 0:
            return np.zeros(len(sel), np.int64), sel[:1]
        key = np.zeros(len(sel), np.int64)
        for col in cols:
            c = self.codes(col)[sel]
            width = int(c.max()) + 1 if len(c) else 1
            key = key * width + c
            if int(key.max(initial=0)) > 2**52:
                key = pd.factorize(key)[0].astype(np.int64)
        inverse, uniques = pd.factorize(key)
        first = np.zeros(len(uniques), np.int64)
        first[inverse[::-1]] = np.arange(len(sel))[::-1]
        return inverse.astype(np.int64), sel[first]


class _PartEngine:
    def __init__(
        self,
        compiled: C.CompiledPart,
        data: _Rows,
        failed: np.ndarray,
        ids: np.ndarray,
    ) -> None:
        self.compiled = compiled
        self.data = data
        self.failed = failed
        self.ids = ids
        self.partials = compiled.partial_nodes
        self._reads: dict[int, A.Reads] = {}

    # -- helpers -------------------------------------------------------------------------------
    def reads(self, nodes: list[P.Node], frames: list | None = None) -> A.Reads:
        key = hash((tuple(id(n) for n in nodes), repr(frames)))
        got = self._reads.get(key)
        if got is None:
            got = A.reads(nodes, self.partials, frames)
            self._reads[key] = got
        return got

    def fail(self, rows: np.ndarray, message: str) -> None:
        for r in rows:
            if self.failed[r] is None:
                err = TemplateError(
                    message,
                    template=self.compiled.template,
                    part=self.compiled.part,
                    endpoint_id=self.ids[r],
                )
                self.failed[r] = str(err)

    def call(self, fn: Callable[..., Any], context: Any) -> str:
        try:
            return fn(context, helpers=C.HELPERS, partials=self.compiled.partials)
        except TemplateError as exc:
            raise _Failure(str(exc)) from exc
        except Exception as exc:
            raise _Failure(C._describe(exc)) from exc

    # -- sequences -----------------------------------------------------------------------------
    def seq(self, nodes: list[P.Node], sel: np.ndarray) -> Piece:
        pieces: list[Piece] = []
        for node in nodes:
            if isinstance(node, P.Text):
                pieces.append(node.value)
            else:
                pieces.append(self.node(node, sel))
        return _join(pieces, len(sel))

    def node(self, node: P.Node, sel: np.ndarray) -> Piece:
        if isinstance(node, P.Mustache):
            done = self.slot(node, sel)
            if done is not None:
                return done
        if isinstance(node, P.Block) and not node.inverted:
            name = node.expr.name
            if name in C.CONDITIONAL_HELPERS and A.is_helper(name):
                return self.conditional(node, sel)
            if name == "each" and A.is_helper(name):
                done = self.each(node, sel)
                if done is not None:
                    return done
        return self.grouped([node], sel)

    def grouped(self, nodes: list[P.Node], sel: np.ndarray) -> Piece:
        reads = self.reads(nodes)
        fn = self.compiled.fragment(nodes)
        if reads.volatile:  # per message, with just the columns it reads
            cols = self.data.columns_for(reads)
            out = np.empty(len(sel), dtype=object)
            for i, ctx in enumerate(self.data.contexts(cols, sel)):
                try:
                    out[i] = self.call(fn, ctx)
                except _Failure as exc:
                    self.fail(sel[i : i + 1], str(exc))
                    out[i] = ""
            return pa.array(out, type=LS)
        cols = self.data.columns_for(reads)
        codes, reps = self.data.group(cols, sel)
        values = np.empty(len(reps), dtype=object)
        for g, ctx in enumerate(self.data.contexts(cols, reps)):
            try:
                values[g] = self.call(fn, ctx)
            except _Failure as exc:
                self.fail(sel[codes == g], str(exc))
                values[g] = ""
        return _take(values, codes, len(sel))

    def slot(self, node: P.Mustache, sel: np.ndarray) -> Piece | None:
        """``{{path}}`` reading one column: resolve and print each distinct value directly."""
        expr = node.expr
        head = expr.head
        if expr.params or expr.hash or not isinstance(head, P.Path) or head.data or head.up:
            return None
        if not head.segments or A.is_helper(expr.name):
            return None
        cols = self.data.columns_for(self.reads([node]))
        if len(cols) != 1:
            return None
        col = cols[0]
        path = self.data.paths[col]
        if head.segments[: len(path)] != path:
            return None
        rest = head.segments[len(path) :]
        prepare = C._prepare_html if node.escaped and self.compiled.html else C._prepare_text
        codes, reps = self.data.group(cols, sel)
        objects = self.data.objects(col, reps)
        values = np.empty(len(reps), dtype=object)
        fallback = []
        plain = not rest
        dtype = self.data.rows[col].dtype
        if plain and isinstance(dtype, pd.StringDtype) and len(objects) > 64:
            present = np.fromiter((o is not None for o in objects), bool, len(objects))
            text = pa.array(objects[present], type=pa.string())
            if prepare is C._prepare_html:  # vectorized escape, same table as escape_html
                for char, entity in C._ESCAPES.items():
                    text = pc.replace_substring(text, char, entity)
            values[present] = text.to_numpy(zero_copy_only=False)
            objects = np.array(["" if p else None for p in present], dtype=object)
            plain = False
        for g, obj in enumerate(objects):
            if type(obj) is str and obj == "" and values[g] is not None:
                continue
            if plain and type(obj) is str:  # the common case: print the string
                values[g] = prepare(obj, True)
                continue
            if obj is None or is_missing(obj):
                fallback.append(g)
                continue
            value = to_context_value(obj, col)
            if rest:
                value = _pc.resolve(value, *rest)
            values[g] = prepare(value, True)
        if fallback:  # missing values: DefaultSubstitutions may apply, render normally
            part = self.grouped([node], reps[fallback])
            values[fallback] = part if isinstance(part, str) else part.to_pylist()
        return _take(values, codes, len(sel))

    def conditional(self, node: P.Block, sel: np.ndarray) -> Piece:
        """Evaluate the condition per distinct input, then render each branch on its rows."""
        test = P.Block(
            node.line, node.column, node.name, node.expr, [P.Text(0, 0, "1")], [P.Text(0, 0, "0")]
        )
        test_nodes = self.compiled._tests.get(id(node))
        if test_nodes is None:
            test_nodes = [test]
            self.compiled._tests[id(node)] = test_nodes
        truth = self.grouped(test_nodes, sel)
        if isinstance(truth, str):
            branch = node.body if truth == "1" else (node.inverse or [])
            return self.seq(branch, sel)
        flags = pc.equal(truth, "1").to_numpy(zero_copy_only=False)
        return _scatter(
            len(sel),
            [
                (flags, lambda m: self.seq(node.body, sel[m])),
                (~flags, lambda m: self.seq(node.inverse or [], sel[m])),
            ],
        )

    def each(self, node: P.Block, sel: np.ndarray) -> Piece | None:
        """``{{#each list}}`` over a list column: render the body once per distinct item."""
        expr = node.expr
        if len(expr.params) != 1 or expr.hash or not isinstance(expr.params[0], P.Path):
            return None
        cover = A.cover_of(expr.params[0], [("root",)])
        col = next((c for c, p in self.data.paths.items() if p == cover), None)
        if col is None:
            return None
        if not _is_string_list(self.data.rows[col].dtype):
            return None  # items of other types print differently once inside a context
        marker = ("\x00item",)
        body_reads = self.reads(node.body, [("root",), ("item", marker)])
        if body_reads.everything or body_reads.volatile or body_reads.paths - {marker}:
            return None
        defaults = self.data.defaults or {}
        if any(column_path(k) == cover for k in defaults):
            return None  # the default may stand in for the list: render whole
        arr = pa.chunked_array(self.data.rows[col].array._pa_array).combine_chunks()  # type: ignore[attr-defined]
        arr = pc.list_slice(arr.take(pa.array(sel)), 0, C.EACH_LIMIT)
        lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
        empty = lengths == 0
        joined: Piece = ""
        if (~empty).any():
            flat = pc.list_flatten(arr)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            parent = np.repeat(np.arange(len(sel)), lengths)
            position = np.arange(len(flat)) - offsets[parent]
            last = position == lengths[parent] - 1
            enc = pc.dictionary_encode(flat)
            item_code = enc.indices.to_numpy(zero_copy_only=False)
            item_code = np.where(
                enc.indices.is_valid().to_numpy(zero_copy_only=False),
                np.nan_to_num(item_code, nan=-1).astype(np.int64) + 1,
                0,
            )
            key = (item_code * (C.EACH_LIMIT + 1) + position) * 2 + last
            inverse, uniques = pd.factorize(key)
            first = np.zeros(len(uniques), np.int64)
            first[inverse[::-1]] = np.arange(len(key))[::-1]
            dictionary = enc.dictionary.to_pylist()
            fn = self.compiled.fragment(node.body)
            items = np.empty(len(uniques), dtype=object)
            for g, k in enumerate(first):
                code = int(item_code[k])
                value = None if code == 0 else dictionary[code - 1]
                value = to_context_value(value) if value is not None else None
                i = int(position[k])
                scope = _pc.Scope(value, {}, {}, index=i, first=i == 0, last=bool(last[k]))
                try:
                    items[g] = self.call(fn, scope)
                except _Failure as exc:
                    self.fail(sel[np.unique(parent[inverse == g])], str(exc))
                    items[g] = ""
            per_item = pa.array(items, type=LS).take(pa.array(inverse))
            joined = pc.binary_join(
                pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), per_item),
                pa.scalar("", LS),
            )
        if not empty.any():
            return joined
        full = joined
        return _scatter(
            len(sel),
            [
                (empty, lambda m: self.seq(node.inverse or [], sel[m])),
                (
                    ~empty,
                    lambda m: full.filter(pa.array(m)) if isinstance(full, pa.Array) else full,
                ),
            ],
        )


def _is_string_list(dtype: Any) -> bool:
    if not (isinstance(dtype, pd.ArrowDtype) and pa.types.is_list(dtype.pyarrow_dtype)):
        return False
    value = dtype.pyarrow_dtype.value_type
    return pa.types.is_string(value) or pa.types.is_large_string(value)


def _has_null_items(s: pd.Series) -> bool:
    arr = pa.chunked_array(s.array._pa_array)  # type: ignore[attr-defined]
    return any(pc.list_flatten(chunk).null_count for chunk in arr.chunks)


def _key(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value, sort_keys=True, default=str)


def _take(values: np.ndarray, codes: np.ndarray, n: int) -> Piece:
    """Per-row pieces from one value per group."""
    if len(values) == 1:
        return values[0] if n else ""
    return pa.array(values, type=LS).take(pa.array(codes))


def _repeat(piece: Piece, n: int) -> pa.Array:
    if isinstance(piece, str):
        return pa.repeat(pa.scalar(piece, LS), n)
    return piece


def _scatter(n: int, branches: list[tuple[np.ndarray, Callable[[np.ndarray], Piece]]]) -> Piece:
    """Rows split by masks, each rendered by its branch, put back in row order."""
    used = [(m, render) for m, render in branches if m.any()]
    if len(used) == 1:
        return used[0][1](used[0][0])
    order = np.concatenate([np.flatnonzero(m) for m, _ in used])
    values = pa.concat_arrays([_repeat(render(m), int(m.sum())) for m, render in used])
    inverse = np.empty(n, np.int64)
    inverse[order] = np.arange(n)
    return values.take(pa.array(inverse))


def _join(pieces: list[Piece], n: int) -> Piece:
    merged: list[Piece] = []
    for p in pieces:  # merge neighbouring constants
        if isinstance(p, str):
            if not p:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += p
                continue
        merged.append(p)
    if not merged:
        return ""
    if len(merged) == 1:
        return merged[0]
    if all(isinstance(p, str) for p in merged):
        return "".join(merged)  # type: ignore[arg-type]
    args = [pa.scalar(p, LS) if isinstance(p, str) else p for p in merged]
    return pc.binary_join_element_wise(*args, pa.scalar("", LS))


def render_fast(
    parts: dict[str, C.CompiledPart],
    rows: pd.DataFrame,
    defaults: Mapping[str, Any] | None,
    ids: np.ndarray,
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Render every part for every row; returns (part -> values, first error per row)."""
    n = len(rows)
    failed = np.full(n, None, dtype=object)
    data = _Rows(rows, defaults)
    sel = np.arange(n)
    rendered: dict[str, pa.Array] = {}
    for part, compiled in parts.items():
        engine = _PartEngine(compiled, data, failed, ids)
        rendered[part] = _repeat(engine.seq(compiled.parsed.nodes, sel), n)
    return rendered, failed
