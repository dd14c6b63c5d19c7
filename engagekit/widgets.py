"""ipywidgets for notebooks: a segment builder whose estimate updates as criteria change.

    >>> from engagekit.widgets import SegmentBuilderWidget
    >>> ui = SegmentBuilderWidget(endpoints, project=project)     # doctest: +SKIP
    >>> ui                                                        # doctest: +SKIP
    >>> ui.segment                                                # the Segment built so far

Every control is an attribute (``ui.channel``, ``ui.country``, ``ui.metric_value`` ...), so a
program or a test can set values and read ``ui.estimate_label.value`` without a browser.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from engagekit.errors import EngagekitError
from engagekit.segments import (
    Estimate,
    Segment,
    SegmentBuilder,
    estimate,
    funnel,
    list_segments,
    save_segment,
    segment,
)

if TYPE_CHECKING:
    from engagekit.project import Project

RECENCY_CHOICES: list[tuple[str, str | None]] = [
    ("any activity", None),
    ("active in the last 24 hours", "ACTIVE:HR_24"),
    ("active in the last 7 days", "ACTIVE:DAY_7"),
    ("active in the last 14 days", "ACTIVE:DAY_14"),
    ("active in the last 30 days", "ACTIVE:DAY_30"),
    ("inactive for 7 days", "INACTIVE:DAY_7"),
    ("inactive for 30 days", "INACTIVE:DAY_30"),
]
METRIC_OPS = [">", ">=", "<", "<=", "==", "between"]
ATTRIBUTE_TYPES = [
    "INCLUSIVE",
    "EXCLUSIVE",
    "CONTAINS",
    "BEFORE",
    "AFTER",
    "ON",
    "BETWEEN",
    "NOT_BETWEEN",
]
_MAX_OPTIONS = 200


class SegmentBuilderWidget:
    """A form over Pinpoint's criteria with a live :class:`~engagekit.segments.Estimate`."""

    def __init__(
        self,
        endpoints: pd.DataFrame,
        *,
        name: str = "new-segment",
        project: Project | None = None,
        now: Any = None,
        events: pd.DataFrame | None = None,
        show_funnel: bool = True,
    ) -> None:
        self.endpoints = endpoints
        self.show_funnel = show_funnel
        self.project = project
        self.now = now
        self.events = events
        self.last_estimate: Estimate | None = None
        self.error: str | None = None

        layout = w.Layout(width="98%")
        self.name = w.Text(value=name, description="Name")
        self.channel = self._multi("Channel", "ChannelType")
        self.country = self._multi("Country", "Location.Country")
        self.city = self._multi("City", "Location.City")
        self.platform = self._multi("Platform", "Demographic.Platform")
        self.recency = w.Dropdown(options=RECENCY_CHOICES, value=None, description="Recency")

        attrs = [
            c for c in endpoints.columns if c.startswith(("Attributes.", "User.UserAttributes."))
        ]
        self.attribute = w.Dropdown(
            options=[("(none)", None), *[(c, c) for c in attrs]], description="Attribute"
        )
        self.attribute_type = w.Dropdown(
            options=ATTRIBUTE_TYPES, value="INCLUSIVE", description="Type"
        )
        self.attribute_values = w.Text(
            description="Values", placeholder="comma-separated (dates: 2026-01-31)", layout=layout
        )

        metrics = [c for c in endpoints.columns if c.startswith(("Metrics.", "User.UserMetrics."))]
        self.metric = w.Dropdown(
            options=[("(none)", None), *[(c, c) for c in metrics]], description="Metric"
        )
        self.metric_op = w.Dropdown(options=METRIC_OPS, value=">=", description="Operator")
        self.metric_value = w.FloatText(value=0.0, description="Value")
        self.metric_high = w.FloatText(value=0.0, description="and", disabled=True)

        self.gps_on = w.Checkbox(value=False, description="Near a point")
        self.latitude = w.BoundedFloatText(value=0.0, min=-90, max=90, description="Latitude")
        self.longitude = w.BoundedFloatText(value=0.0, min=-180, max=180, description="Longitude")
        self.km = w.BoundedFloatText(value=50.0, min=0, max=20_000, description="km")

        saved = list(list_segments(project)["name"]) if project is not None else []
        self.exclude = w.SelectMultiple(
            options=saved, description="Exclude", rows=min(4, max(1, len(saved)))
        )
        self.exclude.disabled = not saved

        self.estimate_label = w.HTML(value="")
        self.funnel_table = w.HTML(value="")
        self.save_button = w.Button(description="Save segment", disabled=project is None)
        self.save_button.on_click(lambda _b: self.save())
        self.status = w.HTML(value="")

        self.controls = [
            self.name,
            self.channel,
            self.country,
            self.city,
            self.platform,
            self.recency,
            self.attribute,
            self.attribute_type,
            self.attribute_values,
            self.metric,
            self.metric_op,
            self.metric_value,
            self.metric_high,
            self.gps_on,
            self.latitude,
            self.longitude,
            self.km,
            self.exclude,
        ]
        for control in self.controls:
            control.observe(self._changed, names="value")
        self.widget = w.VBox(
            [
                self.name,
                w.HBox([self.channel, self.country, self.city, self.platform]),
                self.recency,
                w.HBox([self.attribute, self.attribute_type]),
                self.attribute_values,
                w.HBox([self.metric, self.metric_op, self.metric_value, self.metric_high]),
                w.HBox([self.gps_on, self.latitude, self.longitude, self.km]),
                self.exclude,
                self.estimate_label,
                self.funnel_table,
                w.HBox([self.save_button, self.status]),
            ]
        )
        self.refresh()

    def _multi(self, label: str, column: str) -> w.SelectMultiple:
        values: list[str] = []
        if column in self.endpoints.columns:
            counts = self.endpoints[column].astype("string").value_counts()
            values = [str(v) for v in counts.index[:_MAX_OPTIONS]]
        return w.SelectMultiple(options=values, description=label, rows=min(5, max(1, len(values))))

    # -- model -------------------------------------------------------------------------------------
    @property
    def builder(self) -> SegmentBuilder:
        """The fluent builder equivalent to the form's current state."""
        b = segment(self.name.value or "new-segment")
        if self.channel.value:
            b = b.channel(*self.channel.value)
        if self.country.value:
            b = b.country(*self.country.value)
        if self.city.value:
            b = b.city(*self.city.value)
        if self.platform.value:
            b = b.platform(*self.platform.value)
        if self.recency.value:
            kind, duration = self.recency.value.split(":")
            b = b.active(duration) if kind == "ACTIVE" else b.inactive(duration)  # type: ignore[arg-type]
        if self.attribute.value:
            values = [v.strip() for v in self.attribute_values.value.split(",") if v.strip()]
            column = self.attribute.value
            user = column.startswith("User.UserAttributes.")
            name = column.split(".", 2)[-1] if user else column.split(".", 1)[1]
            b = b.attribute(name, *values, type=self.attribute_type.value, user=user)
        if self.metric.value:
            column = self.metric.value
            user = column.startswith("User.UserMetrics.")
            name = column.split(".", 2)[-1] if user else column.split(".", 1)[1]
            if self.metric_op.value == "between":
                b = b.metric_between(
                    name, self.metric_value.value, self.metric_high.value, user=user
                )
            else:
                b = b.metric(name, self.metric_op.value, self.metric_value.value, user=user)
        if self.gps_on.value:
            b = b.near(self.latitude.value, self.longitude.value, km=self.km.value)
        if self.exclude.value:
            b = b.exclude(*self.exclude.value)
        return b

    @property
    def segment(self) -> Segment:
        """The Segment the form describes (raises DefinitionError when it is incomplete)."""
        return self.builder.build()

    # -- events ------------------------------------------------------------------------------------
    def _changed(self, _change: dict[str, Any]) -> None:
        self.metric_high.disabled = self.metric_op.value != "between"
        self.refresh()

    def refresh(self) -> Estimate | None:
        """Re-evaluate the segment and update the estimate label."""
        try:
            est = estimate(
                self.segment, self.endpoints, project=self.project, now=self.now, events=self.events
            )
        except EngagekitError as exc:
            self.error = str(exc)
            self.last_estimate = None
            self.estimate_label.value = (
                f'<span style="color:#b00020">{html.escape(str(exc))}</span>'
            )
            return None
        self.error = None
        self.last_estimate = est
        self.estimate_label.value = f"<b>{html.escape(est.summary())}</b>"
        if self.show_funnel:
            steps = funnel(
                self.segment, self.endpoints, project=self.project, now=self.now, events=self.events
            )
            self.funnel_table.value = steps.to_html(index=False) if len(steps) > 1 else ""
        return est

    def save(self) -> int | None:
        """Save the segment in the project; returns the version (None when not saved)."""
        if self.project is None:
            self.status.value = "no project: pass project=... to save"
            return None
        try:
            version = save_segment(self.project, self.segment)
        except EngagekitError as exc:
            self.status.value = f'<span style="color:#b00020">{html.escape(str(exc))}</span>'
            return None
        self.status.value = f"saved {html.escape(self.name.value)!s} version {version}"
        return version

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def segment_builder(endpoints: pd.DataFrame, **kwargs: Any) -> SegmentBuilderWidget:
    """Shortcut for :class:`SegmentBuilderWidget` (same arguments)."""
    return SegmentBuilderWidget(endpoints, **kwargs)


__all__ = ["SegmentBuilderWidget", "segment_builder"]
