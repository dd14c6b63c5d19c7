"""Before a send: ``validate`` a template against endpoints; ``preview`` a message in a notebook."""

from __future__ import annotations

import html as _html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engagekit.templates import _analysis as A
from engagekit.templates._batch import ERROR_COLUMN, render_batch
from engagekit.templates._context import column_path, flatten_defaults, is_missing
from engagekit.templates._models import Template
from engagekit.templates._render import compiled_parts, render_message, with_recommendations
from engagekit.templates.limits import DEFAULT_LIMITS, ChannelLimits
from engagekit.templates.recommendations import RecommendationProvider, RecommenderConfig


@dataclass
class ValidationReport:
    """What would go wrong before any send.

    ``variables``: part -> variables it reads; ``missing``: one row per (endpoint, part,
    variable) with no value and no default (the part renders empty there); ``errors``: one row
    per endpoint whose message would fail (a helper error or a channel limit).
    """

    variables: dict[str, list[str]]
    missing: pd.DataFrame
    errors: pd.DataFrame
    endpoints: int
    unknown_variables: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No endpoint fails to render (missing variables alone render empty, not fail)."""
        return self.errors.empty

    def summary(self) -> pd.DataFrame:
        """Endpoints lacking each variable, most lacking first."""
        if self.missing.empty:
            return pd.DataFrame({"variable": [], "endpoints_missing": []})
        counts = self.missing.groupby("variable")["endpoint_id"].nunique()
        out = counts.sort_values(ascending=False).rename("endpoints_missing").reset_index()
        out["share"] = out["endpoints_missing"] / max(self.endpoints, 1)
        return out

    def __repr__(self) -> str:
        status = "ok" if self.ok else f"{len(self.errors)} endpoint(s) would fail"
        lacking = self.missing["endpoint_id"].nunique() if not self.missing.empty else 0
        return (
            f"<ValidationReport {status}; {lacking} of {self.endpoints} endpoint(s) lack a "
            f"variable; unknown variables: {', '.join(self.unknown_variables) or 'none'}>"
        )


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def validate(
    template: Template,
    endpoints: pd.DataFrame,
    provider: RecommendationProvider | None = None,
    *,
    partials: Mapping[str, str] | None = None,
    recommender: RecommenderConfig | None = None,
    limits: ChannelLimits | None = DEFAULT_LIMITS,
    name: str | None = None,
) -> ValidationReport:
    """Which endpoints lack which variables (no value, no DefaultSubstitutions) and which
    messages would fail to render or break a channel limit."""
    rows = with_recommendations(endpoints, provider, recommender)
    parts = compiled_parts(template, name=name, partials=partials)
    defaults = [column_path(k) for k in flatten_defaults(template.default_substitutions)]
    paths = {c: column_path(str(c)) for c in rows.columns}
    ids = (rows["Id"] if "Id" in rows else pd.Series(rows.index, index=rows.index)).astype(str)
    variables: dict[str, list[str]] = {}
    unknown: set[str] = set()
    missing_parts = []
    for part, compiled in parts.items():
        reads = A.reads(compiled.parsed.nodes, compiled.partial_nodes)
        found = sorted(reads.paths)
        variables[part] = [_dotted(p) for p in found]
        for var in found:
            if any(d[: len(var)] == var or var[: len(d)] == d for d in defaults):
                continue  # a default stands in
            cols = [c for c, p in paths.items() if var[: len(p)] == p or p[: len(var)] == var]
            if not cols:
                unknown.add(_dotted(var))
                lacking = np.ones(len(rows), bool)
            else:
                lacking = np.logical_and.reduce([_absent(rows[c]) for c in cols])
            if lacking.any():
                missing_parts.append(
                    pd.DataFrame(
                        {
                            "endpoint_id": ids.to_numpy()[lacking],
                            "part": part,
                            "variable": _dotted(var),
                        }
                    )
                )
    missing = (
        pd.concat(missing_parts, ignore_index=True)
        if missing_parts
        else pd.DataFrame({"endpoint_id": [], "part": [], "variable": []})
    )
    rendered = render_batch(None, template, rows, None, name=name, partials=partials, limits=limits)
    failed = rendered[ERROR_COLUMN].notna().to_numpy()
    errors = pd.DataFrame(
        {"endpoint_id": ids.to_numpy()[failed], "error": rendered[ERROR_COLUMN].to_numpy()[failed]}
    )
    return ValidationReport(variables, missing, errors, len(rows), sorted(unknown))


def _absent(s: pd.Series) -> np.ndarray:
    na = s.isna().to_numpy(bool)
    if s.dtype == object or isinstance(s.dtype, pd.ArrowDtype):
        try:
            lengths = s.list.len().fillna(0).to_numpy()  # type: ignore[attr-defined]
            return na | (lengths == 0)
        except (AttributeError, TypeError):
            return np.fromiter((is_missing(v) for v in s), bool, len(s)) | na
    return na


class Preview:
    """A rendered message shown in a notebook: email HTML in an iframe, SMS and push as text."""

    def __init__(self, channel: str, parts: dict[str, str], endpoint_id: str | None) -> None:
        self.channel = channel
        self.parts = parts
        self.endpoint_id = endpoint_id

    def __repr__(self) -> str:
        head = f"{self.channel} message" + (f" for {self.endpoint_id}" if self.endpoint_id else "")
        lines = [head]
        for part, text in self.parts.items():
            if part == "HtmlPart":
                continue
            lines.append(f"--- {part} ---\n{text}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = _html.escape
        title = f"{self.channel} preview" + (
            f" — endpoint {esc(self.endpoint_id)}" if self.endpoint_id else ""
        )
        out = [f'<div style="font-family:sans-serif;max-width:720px"><b>{title}</b>']
        for part, text in self.parts.items():
            if part == "HtmlPart":
                out.append(
                    '<iframe sandbox="" style="width:100%;height:480px;border:1px solid #ccc" '
                    f'srcdoc="{esc(text, quote=True)}"></iframe>'
                )
            else:
                out.append(
                    f'<div style="color:#666;font-size:12px;margin-top:8px">{esc(part)}</div>'
                    f'<pre style="white-space:pre-wrap;background:#f6f6f6;padding:8px;margin:0">'
                    f"{esc(text)}</pre>"
                )
        out.append("</div>")
        return "".join(out)


def preview(
    template: Template,
    endpoint: pd.Series | Mapping[str, Any] | str,
    provider: RecommendationProvider | None = None,
    *,
    endpoints: pd.DataFrame | None = None,
    partials: Mapping[str, str] | None = None,
    recommender: RecommenderConfig | None = None,
    limits: ChannelLimits | None = None,
) -> Preview:
    """Render one message for display: ``preview(t, endpoints.iloc[0])`` or
    ``preview(t, "ep-1", endpoints=frame)``."""
    if isinstance(endpoint, str):
        if endpoints is None:
            raise ValueError("pass endpoints= to preview an endpoint by id")
        match = endpoints[endpoints["Id"].astype(str) == endpoint]
        if match.empty:
            raise KeyError(f"endpoint {endpoint!r} is not in the endpoints frame")
        endpoint = match.iloc[0]
    row = endpoint if isinstance(endpoint, pd.Series) else pd.Series(dict(endpoint))
    if provider is not None:
        row = with_recommendations(row.to_frame().T, provider, recommender).iloc[0]
    endpoint_id = str(row["Id"]) if "Id" in row and not is_missing(row["Id"]) else None
    parts = render_message(template, row, partials=partials, limits=limits, endpoint_id=endpoint_id)
    return Preview(template.template_type, parts, endpoint_id)
