"""render, render_message, render_batch: templates against contexts and endpoint frames."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from engagekit.errors import TemplateError
from engagekit.templates import helpers as _helpers
from engagekit.templates._compile import CompiledPart, HBList, compile_part
from engagekit.templates._context import endpoint_context
from engagekit.templates._models import Template
from engagekit.templates.limits import DEFAULT_LIMITS, ChannelLimits, check_part, sms_segments
from engagekit.templates.recommendations import (
    RecommendationProvider,
    RecommenderConfig,
    recommendation_columns,
)

PUSH_CHANNELS = {
    "PUSH",
    "APNS",
    "APNS_SANDBOX",
    "APNS_VOIP",
    "APNS_VOIP_SANDBOX",
    "GCM",
    "BAIDU",
    "ADM",
}


def _is_flat(context: Mapping[str, Any]) -> bool:
    return any("." in str(k) for k in context)


def as_context(context: Any, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A context dict from a nested dict, a flat endpoint mapping or an endpoint row (Series)."""
    if isinstance(context, pd.Series):
        return endpoint_context(context.to_dict(), defaults)
    if isinstance(context, Mapping):
        if _is_flat(context):
            return endpoint_context(context, defaults)
        nested = _hb(context)
        if defaults:
            merged = endpoint_context({}, defaults)
            _merge(merged, nested)
            return merged
        return nested
    if context is None:
        return endpoint_context({}, defaults)
    return context


def _hb(value: Any) -> Any:
    """Nested data with lists as :class:`HBList` (item types kept)."""
    if isinstance(value, Mapping):
        return {k: _hb(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, HBList):
        return HBList(_hb(v) for v in value)
    return value


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> None:
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def channel_of(template: Template) -> str:
    return template.template_type


def compiled_parts(
    template: Template,
    *,
    name: str | None = None,
    version: int | None = None,
    partials: Mapping[str, str] | None = None,
) -> dict[str, CompiledPart]:
    """Every part of a template, compiled (cached by template, version and part)."""
    return {
        part: compile_part(
            src,
            html=template.is_html(part),
            partials=partials,
            template=name,
            version=version,
            part=part,
        )
        for part, src in template.parts().items()
    }


def render(
    template: Template | str,
    context: Any = None,
    part: str | None = None,
    *,
    partials: Mapping[str, str] | None = None,
    html: bool = True,
    name: str | None = None,
    version: int | None = None,
) -> str:
    """Render a template string, or one part of a Template, against a context.

    The context is a nested dict (``{"User": {"UserAttributes": {"FirstName": ["Ada"]}}}``), a
    flat endpoint mapping (``{"User.UserAttributes.FirstName": ["Ada"]}``) or an endpoint row.
    A string renders HTML-escaped like Handlebars (``html=False`` for plain text); a Template
    part escapes only in HTML parts and applies the template's DefaultSubstitutions.

    >>> render("Hi {{User.UserAttributes.FirstName}}!", {"User.UserAttributes.FirstName": ["Ada"]})
    'Hi Ada!'
    """
    if isinstance(template, str):
        compiled = compile_part(
            template, html=html, partials=partials, template=name, version=version, part=part
        )
        return compiled.render(as_context(context))
    parts = template.parts()
    if part is None:
        if len(parts) != 1:
            raise TemplateError(
                f"this {template.template_type} template has parts {', '.join(parts)}: pass part=",
                template=name,
            )
        part = next(iter(parts))
    if part not in parts:
        raise TemplateError(
            f"no part {part!r}; this template has {', '.join(parts) or 'none'}", template=name
        )
    compiled = compile_part(
        parts[part],
        html=template.is_html(part),
        partials=partials,
        template=name,
        version=version,
        part=part,
    )
    return compiled.render(as_context(context, template.default_substitutions))


def render_message(
    template: Template,
    context: Any = None,
    *,
    partials: Mapping[str, str] | None = None,
    name: str | None = None,
    version: int | None = None,
    limits: ChannelLimits | None = DEFAULT_LIMITS,
    endpoint_id: str | None = None,
) -> dict[str, str]:
    """Every part rendered (``{"Subject": ..., "HtmlPart": ..., "TextPart": ...}``), checked
    against the channel's limits unless ``limits=None``."""
    ctx = as_context(context, template.default_substitutions)
    out = {}
    for part, compiled in compiled_parts(
        template, name=name, version=version, partials=partials
    ).items():
        out[part] = compiled.render(ctx, endpoint_id=endpoint_id)
        if limits is not None:
            check_part(
                channel_of(template),
                part,
                out[part],
                limits=limits,
                template=name,
                endpoint_id=endpoint_id,
            )
    return out


@contextlib.contextmanager
def pinned_now(now: datetime | None) -> Iterator[datetime]:
    """Pin the time ``{{now}}`` prints while rendering a batch."""
    moment = now or datetime.now(UTC)
    token = _helpers.NOW.set(moment)
    try:
        yield moment
    finally:
        _helpers.NOW.reset(token)


def endpoint_rows(
    plan: pd.DataFrame | None, endpoints: pd.DataFrame, *, only_scheduled: bool = True
) -> tuple[pd.Index, np.ndarray, pd.Series]:
    """(plan index, positions into ``endpoints`` (-1 when unknown/not rendered), endpoint ids)."""
    if plan is None:
        ids = endpoints["Id"].astype("string") if "Id" in endpoints else endpoints.index.astype(str)
        return endpoints.index, np.arange(len(endpoints)), pd.Series(ids, index=endpoints.index)
    id_col = "endpoint_id" if "endpoint_id" in plan else "Id"
    wanted = plan[id_col].astype("string")
    ep_ids = endpoints["Id"].astype("string") if "Id" in endpoints else endpoints.index.astype(str)
    index = pd.Index(ep_ids)
    if not index.is_unique:  # a re-imported endpoint: the last row wins
        index = index[~index.duplicated(keep="last")]
        keep = np.flatnonzero(~pd.Index(ep_ids).duplicated(keep="last"))
        positions = index.get_indexer(wanted)
        positions = np.where(positions >= 0, keep[positions], -1)
    else:
        positions = index.get_indexer(wanted)
    if only_scheduled and "status" in plan:
        positions = np.where(
            plan["status"].astype("string").eq("scheduled").fillna(False).to_numpy(bool),
            positions,
            -2,
        )
    return plan.index, positions, wanted


def with_recommendations(
    rows: pd.DataFrame, provider: RecommendationProvider | None, config: RecommenderConfig | None
) -> pd.DataFrame:
    """``rows`` plus RecommendationItems / Recommendations.* list columns from the provider."""
    if provider is None:
        return rows
    config = config or getattr(provider, "config", None) or RecommenderConfig.model_validate({})
    key = "User.UserId" if config.id_type == "PINPOINT_USER_ID" else "Id"
    if key not in rows:
        raise TemplateError(f"recommendations by {config.id_type} need a {key!r} column")
    ids = rows[key].astype("string")
    recs = recommendation_columns(provider, ids.dropna().unique().tolist(), config)
    positions = recs.index.get_indexer(ids.fillna(""))
    extra = {}
    for col in recs.columns:
        taken = recs[col].array.take(positions, allow_fill=True)
        extra[col] = pd.Series(taken, index=rows.index)
    return rows.assign(**extra)


def sms_columns(bodies: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Encoding and segment count of rendered SMS bodies (NA where not rendered)."""
    enc = pd.Series(pd.NA, index=bodies.index, dtype="string")
    seg = pd.Series(pd.NA, index=bodies.index, dtype="Int64")
    valid = bodies.notna()
    if valid.any():
        uniq = pd.unique(bodies[valid])
        info = {u: sms_segments(u) for u in uniq}
        enc[valid] = [info[b].encoding for b in bodies[valid]]
        seg[valid] = [info[b].segments for b in bodies[valid]]
    return enc, seg
