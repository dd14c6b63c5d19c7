"""render_batch: one rendered message per plan row, fast.

The fast path never renders the same thing twice. Each part's tree is split into top-level
fragments; the variables a fragment reads are found by walking the tree (``_analysis``), the
endpoint rows are grouped by the values of just those columns, and the fragment is rendered
once per group. Conditional blocks (``if``, ``eq``...) split the rows by the condition's value
and recurse into the chosen branch; ``each`` over a list column renders its body once per
distinct (item, position) and joins the items per row. What cannot be proven equivalent
(a volatile helper such as ``uuid``) renders per row. The row-by-row engine
(``engine="rows"``) is kept as the reference the fast path is tested against.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray

from engagekit.errors import TemplateError
from engagekit.templates._compile import CompiledPart
from engagekit.templates._context import endpoint_context
from engagekit.templates._models import Template
from engagekit.templates._render import (
    channel_of,
    compiled_parts,
    endpoint_rows,
    pinned_now,
    sms_columns,
    with_recommendations,
)
from engagekit.templates.limits import DEFAULT_LIMITS, ChannelLimits, check_part
from engagekit.templates.recommendations import RecommendationProvider, RecommenderConfig

ERROR_COLUMN = "render_error"
#: the parts channel limits apply to (others are never checked, so never hashed)
LIMITED_PARTS = {
    ("EMAIL", "Subject"),
    ("SMS", "Body"),
    ("PUSH", "Title"),
    ("PUSH", "Body"),
    ("VOICE", "Body"),
    ("CUSTOM", "Payload"),
}


def render_batch(
    plan: pd.DataFrame | None,
    template: Template,
    endpoints: pd.DataFrame,
    provider: RecommendationProvider | None = None,
    *,
    name: str | None = None,
    version: int | None = None,
    partials: Mapping[str, str] | None = None,
    recommender: RecommenderConfig | None = None,
    limits: ChannelLimits | None = DEFAULT_LIMITS,
    now: datetime | None = None,
    only_scheduled: bool = True,
    engine: str = "auto",
) -> pd.DataFrame:
    """Render every message of a plan: index aligned with ``plan``, one column per part
    (``Subject``/``HtmlPart``/``TextPart``, ``Body``, ``Title``...), plus ``render_error``.

    Rows are matched to ``endpoints`` by ``plan.endpoint_id`` == ``endpoints.Id``; with
    ``plan=None`` every endpoint row is rendered. Plan rows whose ``status`` is not
    ``"scheduled"`` are left NA (``only_scheduled=False`` renders them too). A row that fails
    (a helper error, a channel limit) gets NA parts and the reason in ``render_error``. SMS
    templates add ``Encoding`` and ``Segments`` columns. ``{{now}}`` is pinned to ``now``.

    Part columns are Arrow-backed ``string`` columns (NA where not rendered). ``engine="rows"``
    renders row by row with pybars3 (the reference the fast engine is tested against).
    """
    index, positions, ids = endpoint_rows(plan, endpoints, only_scheduled=only_scheduled)
    parts = compiled_parts(template, name=name, version=version, partials=partials)
    n = len(index)
    errors = np.full(n, None, dtype=object)
    unknown = positions == -1
    if unknown.any():
        errors[unknown] = [
            "the plan row has no endpoint_id"
            if pd.isna(i)
            else f"endpoint {i!r} is not in the endpoints frame"
            for i in ids[unknown]
        ]
    take = np.flatnonzero(positions >= 0)
    rows = endpoints.iloc[positions[take]]
    rows = with_recommendations(rows, provider, recommender)
    row_ids = rows["Id"].astype("string") if "Id" in rows else pd.Series(ids.to_numpy()[take])
    row_ids_arr = row_ids.to_numpy(dtype=object, na_value=None)
    defaults = template.default_substitutions
    channel = channel_of(template)
    with pinned_now(now):
        if engine == "rows":
            objects, failed = _render_rows(parts, rows, defaults, row_ids_arr)
            rendered = {p: pa.array(v, type=pa.large_string()) for p, v in objects.items()}
        elif engine == "auto":
            from engagekit.templates._fast import render_fast

            rendered, failed = render_fast(parts, rows, defaults, row_ids_arr)
        else:
            raise ValueError(f"engine must be 'auto' or 'rows', got {engine!r}")
    if limits is not None:
        _check_limits(channel, rendered, failed, limits, name, row_ids_arr)
        if channel == "PUSH":
            _check_push_payload(rendered, failed, limits, name, row_ids_arr)
    ok = np.array([f is None for f in failed], dtype=bool)
    # plan row -> rendered row (null where not rendered or failed): Arrow takes, no copies
    # of the messages into Python strings
    where = np.full(n, -1, np.int64)
    where[take[ok]] = np.flatnonzero(ok)
    indices = pa.array(where, mask=where < 0)
    frame = pd.DataFrame(
        {
            p: pd.Series(ArrowStringArray(pa.chunked_array([v.take(indices)])), index=index)
            for p, v in rendered.items()
        }
    )
    errors[take] = np.where(failed != None, failed, errors[take])  # noqa: E711
    frame[ERROR_COLUMN] = pd.Series(errors, index=index, dtype="string")
    if channel == "SMS" and "Body" in frame:
        frame["Encoding"], frame["Segments"] = sms_columns(frame["Body"])
    return frame


def iter_render_batch(
    plan: pd.DataFrame | None,
    template: Template,
    endpoints: pd.DataFrame,
    provider: RecommendationProvider | None = None,
    *,
    chunksize: int = 100_000,
    now: datetime | None = None,
    **kwargs: Any,
) -> Iterator[pd.DataFrame]:
    """:func:`render_batch` in chunks of ``chunksize`` plan rows, so a delivery loop holds one
    chunk of rendered messages at a time. ``{{now}}`` is pinned once for every chunk."""
    if chunksize < 1:
        raise ValueError(f"chunksize must be at least 1, got {chunksize}")
    moment = now or datetime.now(UTC)
    total = len(plan) if plan is not None else len(endpoints)
    for start in range(0, total, chunksize):
        if plan is None:
            yield render_batch(
                None,
                template,
                endpoints.iloc[start : start + chunksize],
                provider,
                now=moment,
                **kwargs,
            )
        else:
            yield render_batch(
                plan.iloc[start : start + chunksize],
                template,
                endpoints,
                provider,
                now=moment,
                **kwargs,
            )


def _render_rows(
    parts: dict[str, CompiledPart],
    rows: pd.DataFrame,
    defaults: Mapping[str, Any] | None,
    ids: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The reference engine: build each row's context and render every part with pybars3."""
    n = len(rows)
    rendered = {p: np.full(n, None, dtype=object) for p in parts}
    failed = np.full(n, None, dtype=object)
    columns = list(rows.columns)
    arrays = [rows[c].to_numpy(dtype=object, na_value=None) for c in columns]
    for i in range(n):
        ctx = endpoint_context({c: a[i] for c, a in zip(columns, arrays, strict=True)}, defaults)
        for part, compiled in parts.items():
            try:
                rendered[part][i] = compiled.render(ctx, endpoint_id=ids[i])
            except TemplateError as exc:
                failed[i] = str(exc)
                break
    return rendered, failed


def _check_push_payload(
    rendered: dict[str, pa.Array],
    failed: np.ndarray,
    limits: ChannelLimits,
    name: str | None,
    ids: np.ndarray,
) -> None:
    """APNs and FCM refuse payloads over 4 KB: the parts' UTF-8 bytes plus JSON framing."""
    if not rendered:
        return
    size = np.zeros(len(failed), np.int64)
    for part, values in rendered.items():
        length = pc.binary_length(pc.cast(values, pa.large_binary())).fill_null(0)
        size += length.to_numpy(zero_copy_only=False) + len(part) + 6
    for i in np.flatnonzero((size > limits.push_payload_max_bytes) & (failed == None)):  # noqa: E711
        failed[i] = str(
            TemplateError(
                f"the push payload is about {int(size[i])} bytes; APNs and FCM accept at most "
                f"{limits.push_payload_max_bytes}",
                template=name,
                endpoint_id=ids[i],
            )
        )


def _check_limits(
    channel: str,
    rendered: dict[str, pa.Array],
    failed: np.ndarray,
    limits: ChannelLimits,
    name: str | None,
    ids: np.ndarray,
) -> None:
    """Check each distinct rendered value once; record the first failure per row."""
    for part, values in rendered.items():
        if (channel, part) not in LIMITED_PARTS:
            continue
        encoded = pc.dictionary_encode(values)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        bad: dict[int, str] = {}
        for k, text in enumerate(encoded.dictionary.to_pylist()):
            try:
                check_part(channel, part, text, limits=limits, template=name)
            except TemplateError as exc:
                bad[k] = str(exc)
        if not bad:
            continue
        for k, msg in bad.items():
            where = np.flatnonzero((codes == k) & (failed == None))  # noqa: E711
            failed[where] = [f"endpoint {ids[i]!r}: {msg}" for i in where]
