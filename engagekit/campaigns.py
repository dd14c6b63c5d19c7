"""Campaigns: standard and A/B campaigns with a holdout, planned as a DataFrame.

A :class:`Campaign` is a declaration (pydantic, frozen, Pinpoint field names as aliases):
segment (pinned version), channel, 1–5 treatments, ``HoldoutPercent``, :class:`Schedule`,
:class:`Limits`, priority and state. :func:`plan_campaign` turns it into a plan — one row per
audience endpoint, with its arm, due time and status — as a pure function of its inputs.
:func:`plan_run` is the project shell around it (load, plan, save, record the run).

Plan columns (see the contract in the README): ``run_id``, ``campaign``, ``campaign_version``,
``treatment_id`` (``"0"`` … ``"4"``, or ``"holdout"``), ``holdout``, ``endpoint_id``,
``user_id``, ``channel_type``, ``address``, ``template``, ``template_version``, ``due_at``
(UTC), ``timezone``, ``status`` (``scheduled`` | ``excluded``), ``reason`` (NA when scheduled),
``step``. Low-cardinality text columns are categoricals of strings.

Exclusion reasons, first match wins (:data:`REASONS`):

=====================  ============================================================
OPTED_OUT              ``OptOut`` is ``ALL``
INACTIVE               ``EndpointStatus`` is ``INACTIVE``
NO_ADDRESS             no address (empty or blank) for the channel
SUPPRESSED             the address (trimmed, lower-cased) is on the suppression list
OUTSIDE_SCHEDULE       the local-time wave falls after the schedule's ``EndTime``
LOCAL_TIME_PASSED      the local-time wave was already over when the run was planned
QUIET_TIME             due inside quiet time (``QuietTimeMode`` SKIP, Pinpoint's rule)
TOTAL_LIMIT            ``Limits.Total`` messages of this campaign already targeted it
DAILY_LIMIT            ``Limits.Daily`` messages of this campaign in the last 24 h
USER_CAMPAIGN_LIMIT    the project's ``max_per_user_per_campaign`` for the user
USER_DAILY_LIMIT       the project's ``max_per_user_per_day`` for the user (all campaigns)
HOLDOUT                in the control group (and otherwise eligible)
=====================  ============================================================

Limits count every ledger row that was targeted — pending, sent *or failed* (Pinpoint's
rule) — except rows of the run being planned, so a rerun gives the same plan. Holdout rows
that would have been eligible carry HOLDOUT; ineligible ones carry their own reason (still
``holdout=True``), so the control group compares with the treated group like for like.
Endpoints of other channels than the campaign's are not part of its audience.

>>> import pandas as pd
>>> from engagekit.campaigns import Campaign, plan_campaign
>>> from engagekit.sample import generate_endpoints
>>> c = Campaign.parse({"Name": "welcome", "SegmentId": "all", "Channel": "EMAIL",
...     "HoldoutPercent": 10, "Treatments": [{"TemplateConfiguration":
...     {"EmailTemplate": {"Name": "welcome", "Version": 1}}}]})
>>> plan = plan_campaign(c, generate_endpoints(100), "2026-11-02T09:00:00Z", audience="all")
>>> sorted(plan["status"].unique())
['excluded', 'scheduled']
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engagekit.endpoints import PUSH_CHANNEL_TYPES
from engagekit.errors import DefinitionError, NotFoundError
from engagekit.experiments import Allocation, Arm, keys_to_buckets, srm_check, unit_keys, units
from engagekit.project import Project, ProjectSettings, QuietTime
from engagekit.schedules import (
    TIMESTAMP_DTYPE,
    EventFilter,
    Schedule,
    _PathError,
    endpoint_zones,
    has_valid_zone,
    localize,
    match_events,
    occurrence_at,
    quiet_instant,
    quiet_time_adjust,
    to_utc,
    zone,
)

KIND: Final = "campaign"
MAX_TREATMENTS: Final = 5
MAX_DIRECT: Final = 15
HOLDOUT: Final = "holdout"
States = Literal["draft", "scheduled", "running", "paused", "completed", "deleted"]
Channel = Literal["EMAIL", "SMS", "PUSH", "VOICE", "IN_APP", "CUSTOM"]

#: Exclusion reasons in precedence order (the first that applies is recorded).
REASONS: Final = (
    "OPTED_OUT",
    "INACTIVE",
    "NO_ADDRESS",
    "SUPPRESSED",
    "OUTSIDE_SCHEDULE",
    "LOCAL_TIME_PASSED",
    "QUIET_TIME",
    "TOTAL_LIMIT",
    "DAILY_LIMIT",
    "USER_CAMPAIGN_LIMIT",
    "USER_DAILY_LIMIT",
    "HOLDOUT",
)
STATUSES: Final = ("scheduled", "excluded")
#: a local-time wave planned more than this after its due time is excluded (LOCAL_TIME_PASSED)
LOCAL_TIME_GRACE: Final = pd.Timedelta(minutes=15)
PLAN_COLUMNS: Final = (
    "run_id", "campaign", "campaign_version", "treatment_id", "holdout", "endpoint_id",
    "user_id", "channel_type", "address", "template", "template_version", "due_at",
    "timezone", "status", "reason", "step",
)  # fmt: skip
#: ledger statuses that count toward limits: a targeted endpoint counts even if the send failed
COUNTED_STATUSES: Final = ("pending", "sent", "failed", "delivered")
_CHANNEL_ENDPOINTS: Final = {
    "EMAIL": ("EMAIL",),
    "SMS": ("SMS",),
    "VOICE": ("VOICE", "SMS"),
    "PUSH": tuple(sorted(PUSH_CHANNEL_TYPES)),
    "IN_APP": ("IN_APP",),
    "CUSTOM": ("CUSTOM",),
}
_TEMPLATE_SLOT: Final = {
    "EMAIL": "email_template",
    "SMS": "sms_template",
    "VOICE": "voice_template",
    "PUSH": "push_template",
    "IN_APP": "in_app_template",
    "CUSTOM": None,
}
_TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "draft": ("scheduled", "deleted"),
    "scheduled": ("running", "paused", "completed", "deleted"),
    "running": ("paused", "completed", "deleted"),
    "paused": ("scheduled", "running", "deleted"),
    "completed": ("deleted",),
    "deleted": (),
}


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True
    )


# ---- declarations ------------------------------------------------------------------------------
class TemplateRef(_Model):
    """A template by name and (pinned) version; Pinpoint's ``Template``."""

    name: str = Field(alias="Name", min_length=1)
    version: int | None = Field(None, alias="Version", ge=1)

    @field_validator("version", mode="before")
    @classmethod
    def _numeric(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        if value == "":
            return None
        return value


class TemplateConfiguration(_Model):
    """Pinpoint's TemplateConfiguration: the template for each channel."""

    email_template: TemplateRef | None = Field(None, alias="EmailTemplate")
    sms_template: TemplateRef | None = Field(None, alias="SMSTemplate")
    push_template: TemplateRef | None = Field(None, alias="PushTemplate")
    voice_template: TemplateRef | None = Field(None, alias="VoiceTemplate")
    in_app_template: TemplateRef | None = Field(None, alias="InAppTemplate")


class CampaignEmailMessage(_Model):
    """An inline email (Pinpoint's CampaignEmailMessage)."""

    title: str | None = Field(None, alias="Title")
    html_body: str | None = Field(None, alias="HtmlBody")
    body: str | None = Field(None, alias="Body")
    from_address: str | None = Field(None, alias="FromAddress")


class CampaignSmsMessage(_Model):
    """An inline SMS (Pinpoint's CampaignSmsMessage)."""

    body: str | None = Field(None, alias="Body")
    message_type: Literal["TRANSACTIONAL", "PROMOTIONAL"] | None = Field(None, alias="MessageType")
    origination_number: str | None = Field(None, alias="OriginationNumber")
    sender_id: str | None = Field(None, alias="SenderId")


class Message(_Model):
    """An inline push or default message (Pinpoint's Message)."""

    title: str | None = Field(None, alias="Title")
    body: str | None = Field(None, alias="Body")
    action: Literal["OPEN_APP", "DEEP_LINK", "URL"] | None = Field(None, alias="Action")
    url: str | None = Field(None, alias="Url")
    image_url: str | None = Field(None, alias="ImageUrl")
    silent_push: bool | None = Field(None, alias="SilentPush")


class CustomMessage(_Model):
    data: str | None = Field(None, alias="Data")


class MessageConfiguration(_Model):
    """Pinpoint's MessageConfiguration: inline messages per channel (instead of a template)."""

    email_message: CampaignEmailMessage | None = Field(None, alias="EmailMessage")
    sms_message: CampaignSmsMessage | None = Field(None, alias="SMSMessage")
    default_message: Message | None = Field(None, alias="DefaultMessage")
    apns_message: Message | None = Field(None, alias="APNSMessage")
    gcm_message: Message | None = Field(None, alias="GCMMessage")
    custom_message: CustomMessage | None = Field(None, alias="CustomMessage")


class Treatment(_Model):
    """One arm of a campaign. ``SizePercent`` may be omitted on one treatment (the remainder)."""

    name: str | None = Field(None, alias="TreatmentName")
    description: str | None = Field(None, alias="TreatmentDescription")
    size_percent: int | None = Field(None, alias="SizePercent", ge=0, le=100)
    template_configuration: TemplateConfiguration | None = Field(
        None, alias="TemplateConfiguration"
    )
    message_configuration: MessageConfiguration | None = Field(None, alias="MessageConfiguration")
    schedule: Schedule | None = Field(None, alias="Schedule")

    def template_for(self, channel: str) -> TemplateRef | None:
        slot = _TEMPLATE_SLOT.get(channel)
        if slot is None or self.template_configuration is None:
            return None
        ref: TemplateRef | None = getattr(self.template_configuration, slot)
        return ref


class Limits(_Model):
    """Pinpoint's CampaignLimits; ``None`` or 0 means no limit (the project default applies)."""

    daily: int | None = Field(None, alias="Daily", ge=0, le=100)
    total: int | None = Field(None, alias="Total", ge=0, le=100)
    messages_per_second: int | None = Field(None, alias="MessagesPerSecond", ge=0, le=20_000)
    maximum_duration: int | None = Field(None, alias="MaximumDuration", ge=0)
    session: int | None = Field(None, alias="Session", ge=0)

    @field_validator("maximum_duration")
    @classmethod
    def _at_least_a_minute(cls, value: int | None) -> int | None:
        if value and value < 60:
            raise ValueError("MaximumDuration is in seconds and must be at least 60")
        return value


class Campaign(_Model):
    """A standard (one treatment) or A/B (2–5 treatments) campaign with an optional holdout."""

    name: str = Field(alias="Name", min_length=1, max_length=128)
    description: str | None = Field(None, alias="Description")
    segment: str = Field(alias="SegmentId", min_length=1)
    segment_version: int | None = Field(None, alias="SegmentVersion", ge=1)
    channel: Channel = Field("EMAIL", alias="Channel")
    treatments: tuple[Treatment, ...] = Field(alias="Treatments", min_length=1)
    holdout_percent: int = Field(0, alias="HoldoutPercent", ge=0, le=100)
    schedule: Schedule = Field(Schedule.model_validate({}), alias="Schedule")
    limits: Limits = Field(Limits.model_validate({}), alias="Limits")
    priority: int | None = Field(None, alias="Priority", ge=1, le=5)
    state: States = Field("draft", alias="State")
    salt: str | None = Field(None, alias="Salt", description="allocation salt (default: Name)")
    tags: dict[str, str] = Field(default_factory=dict, alias="tags")

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        n = len(self.treatments)
        if n > MAX_TREATMENTS:
            raise _PathError(
                "Treatments", f"at most {MAX_TREATMENTS} treatments (Pinpoint's limit), got {n}"
            )
        missing = [i for i, t in enumerate(self.treatments) if t.size_percent is None]
        if len(missing) > 1:
            raise _PathError(
                f"Treatments.{missing[1]}.SizePercent",
                "only one treatment may omit SizePercent (it gets the remainder)",
            )
        total = self.holdout_percent + sum(t.size_percent or 0 for t in self.treatments)
        if (missing and total > 100) or (not missing and total != 100):
            where = f"Treatments.{n - 1}.SizePercent" if n > 1 else "HoldoutPercent"
            raise _PathError(
                where,
                f"SizePercent of the treatments plus HoldoutPercent must be 100, got {total}",
            )
        for i, t in enumerate(self.treatments):
            if t.template_for(self.channel) is None and not _has_message(t, self.channel):
                raise _PathError(
                    f"Treatments.{i}.TemplateConfiguration",
                    f"no template or message for the campaign's channel {self.channel}",
                )
        if self.treatments[0].schedule is not None:
            raise _PathError(
                "Treatments.0.Schedule", "the first treatment uses the campaign's Schedule"
            )
        for i, t in enumerate(self.treatments[1:], start=1):
            if t.schedule is not None and t.schedule.frequency != self.schedule.frequency:
                raise _PathError(
                    f"Treatments.{i}.Schedule.Frequency",
                    "treatments may differ in time, not in Frequency",
                )
        return self

    # -- derived ------------------------------------------------------------------------------
    @classmethod
    def parse(cls, data: Mapping[str, Any] | str | bytes) -> Campaign:
        """Validate a definition (dict or JSON); raise :class:`DefinitionError` naming the field."""
        try:
            if isinstance(data, (str, bytes)):
                return cls.model_validate_json(data)
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise definition_error(exc) from None

    @property
    def is_ab_test(self) -> bool:
        return len(self.treatments) > 1

    @property
    def allocation_salt(self) -> str:
        return self.salt or self.name

    def sizes(self) -> list[int]:
        """SizePercent of each treatment (the omitted one gets the remainder)."""
        given = sum(t.size_percent or 0 for t in self.treatments) + self.holdout_percent
        return [100 - given if t.size_percent is None else t.size_percent for t in self.treatments]

    def allocation(self) -> Allocation:
        """Treatment ``"0"`` … and the holdout laid over the hash buckets (holdout first)."""
        arms = [Arm(str(i), s) for i, s in enumerate(self.sizes())]
        if self.holdout_percent:
            arms.insert(0, Arm(HOLDOUT, self.holdout_percent, holdout=True))
        return Allocation(tuple(arms))

    def arms(self) -> pd.DataFrame:
        """One row per arm (treatments, then the holdout): id, name, share, template, timing.

        >>> c = Campaign.parse({"Name": "c", "SegmentId": "s", "HoldoutPercent": 10,
        ...     "Treatments": [{"TemplateConfiguration": {"EmailTemplate": {"Name": "t"}}}]})
        >>> c.arms()["percent"].tolist()
        [90, 10]
        """
        rows = []
        for i, (t, size) in enumerate(zip(self.treatments, self.sizes(), strict=True)):
            ref = t.template_for(self.channel)
            sched = self.treatment_schedule(i)
            rows.append(
                {
                    "treatment_id": str(i),
                    "name": t.name or ("control" if i == 0 else f"treatment {i}"),
                    "percent": size,
                    "template": ref.name if ref else "(inline message)",
                    "template_version": ref.version if ref else None,
                    "start": "IMMEDIATE" if sched.immediate else str(sched.start_time),
                    "frequency": sched.frequency,
                }
            )
        if self.holdout_percent:
            rows.append({"treatment_id": HOLDOUT, "name": "holdout",
                         "percent": self.holdout_percent, "template": None,
                         "template_version": None, "start": None, "frequency": None})  # fmt: skip
        return pd.DataFrame(rows)

    def treatment_schedule(self, i: int) -> Schedule:
        return self.treatments[i].schedule or self.schedule

    def with_changes(self, **changes: Any) -> Campaign:
        """A validated copy with fields changed (by Python name)."""
        data = self.model_dump(by_alias=False) | changes
        try:
            return type(self).model_validate(data, by_name=True)
        except ValidationError as exc:
            raise definition_error(exc) from None

    # -- Pinpoint -----------------------------------------------------------------------------
    def to_pinpoint(self) -> dict[str, Any]:
        """Pinpoint's WriteCampaignRequest, validated against botocore's service model."""
        first = self.treatments[0]
        doc: dict[str, Any] = {
            "Name": self.name,
            "SegmentId": self.segment,
            "HoldoutPercent": self.holdout_percent,
            "Schedule": self.schedule.to_pinpoint(),
        }
        if self.segment_version is not None:
            doc["SegmentVersion"] = self.segment_version
        if self.description:
            doc["Description"] = self.description
        if self.priority is not None:
            doc["Priority"] = self.priority
        limits = self.limits.model_dump(mode="json", by_alias=True, exclude_none=True)
        if limits:
            doc["Limits"] = limits
        if self.state == "paused":
            doc["IsPaused"] = True
        tags = dict(self.tags)
        if self.salt:
            tags["engagekit:salt"] = self.salt
        if self.schedule.timezone != doc["Schedule"]["Timezone"]:
            tags["engagekit:timezone"] = self.schedule.timezone
        if tags:
            doc["tags"] = tags
        doc.update(_treatment_doc(first, include_size=False))
        extra = [_treatment_doc(t, include_size=True, size=s) for t, s in
                 zip(self.treatments[1:], self.sizes()[1:], strict=True)]  # fmt: skip
        if extra:
            doc["AdditionalTreatments"] = extra
        validate_request(doc)
        return doc

    @classmethod
    def from_pinpoint(
        cls, request: Mapping[str, Any], *, channel: str | None = None, state: str = "draft"
    ) -> Campaign:
        """Read a WriteCampaignRequest (or a CampaignResponse, whose ``State.CampaignStatus``
        becomes the state) into a Campaign."""
        status = (request.get("State") or {}) if isinstance(request, Mapping) else {}
        if isinstance(status, Mapping) and status.get("CampaignStatus") in _PINPOINT_STATES:
            state = _PINPOINT_STATES[status["CampaignStatus"]]
        body = {k: v for k, v in request.items() if k not in _RESPONSE_ONLY}
        if "AdditionalTreatments" in body:
            body["AdditionalTreatments"] = [
                {k: v for k, v in t.items() if k not in _RESPONSE_ONLY}
                for t in body["AdditionalTreatments"]
            ]
        validate_request(body)
        first = {
            "TreatmentName": body.get("TreatmentName"),
            "TreatmentDescription": body.get("TreatmentDescription"),
            "TemplateConfiguration": body.get("TemplateConfiguration"),
            "MessageConfiguration": body.get("MessageConfiguration"),
        }
        treatments = [{k: v for k, v in first.items() if v is not None}]
        for t in body.get("AdditionalTreatments", []):
            treatments.append({k: v for k, v in t.items() if k not in _RESPONSE_ONLY})
        tags = dict(body.get("tags", {}))
        salt = tags.pop("engagekit:salt", None)
        schedule = dict(body.get("Schedule") or {})
        iana = tags.pop("engagekit:timezone", None)
        if iana:
            schedule["Timezone"] = iana
        data: dict[str, Any] = {
            "Name": body.get("Name"),
            "Description": body.get("Description"),
            "SegmentId": body.get("SegmentId"),
            "SegmentVersion": body.get("SegmentVersion"),
            "Channel": channel or _infer_channel(treatments),
            "Treatments": treatments,
            "HoldoutPercent": body.get("HoldoutPercent", 0),
            "Schedule": schedule,
            "Limits": body.get("Limits") or {},
            "Priority": body.get("Priority"),
            "State": "paused" if body.get("IsPaused") else state,
            "Salt": salt,
            "tags": tags,
        }
        return cls.parse({k: v for k, v in data.items() if v is not None})


def validate_request(doc: Mapping[str, Any], shape_name: str = "WriteCampaignRequest") -> None:
    """Check a document against botocore's Pinpoint model (structure, types and enum values)."""
    from engagekit import pinpoint

    try:
        pinpoint.validate(shape_name, doc)
        return
    except AttributeError:
        pass  # engagekit.pinpoint's enum walk trips over non-string shapes; check here instead
    from botocore.validate import ParamValidator

    target = pinpoint.shape(shape_name)
    report = ParamValidator().validate(doc, target)
    found = [ln.strip() for ln in report.generate_report().splitlines()[1:] if ln.strip()]
    found += _enum_problems(target, doc, shape_name)
    if found:
        raise DefinitionError(
            f"not a valid Pinpoint {shape_name}: " + "; ".join(found), kind=shape_name
        )


def _enum_problems(target: Any, value: Any, path: str) -> list[str]:
    members = getattr(target, "members", None)
    if isinstance(members, Mapping) and isinstance(value, Mapping):
        return [p for k, v in value.items() if k in members
                for p in _enum_problems(members[k], v, f"{path}.{k}")]  # fmt: skip
    if target.type_name == "list" and isinstance(value, list):
        return [p for i, v in enumerate(value)
                for p in _enum_problems(target.member, v, f"{path}[{i}]")]  # fmt: skip
    if target.type_name == "map" and isinstance(value, Mapping):
        return [p for k, v in value.items()
                for p in _enum_problems(target.value, v, f"{path}.{k}")]  # fmt: skip
    enum = getattr(target, "enum", None)
    if enum and isinstance(value, str) and value not in enum:
        return [f"{path}: {value!r} is not one of {', '.join(enum)}"]
    return []


#: Pinpoint's CampaignStatus (in a CampaignResponse) -> engagekit's state
_PINPOINT_STATES: Final = {
    "SCHEDULED": "scheduled", "EXECUTING": "running", "PENDING_NEXT_RUN": "running",
    "COMPLETED": "completed", "PAUSED": "paused", "DELETED": "deleted", "INVALID": "draft",
}  # fmt: skip
_RESPONSE_ONLY = frozenset(
    {"Id", "ApplicationId", "Arn", "CreationDate", "LastModifiedDate", "State",
     "DefaultState", "Version", "TreatmentId"}
)  # fmt: skip


def _treatment_doc(t: Treatment, *, include_size: bool, size: int | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if include_size:
        doc["SizePercent"] = size
    if t.name:
        doc["TreatmentName"] = t.name
    if t.description:
        doc["TreatmentDescription"] = t.description
    if t.template_configuration is not None:
        tc = t.template_configuration.model_dump(mode="json", by_alias=True, exclude_none=True)
        for ref in tc.values():
            if "Version" in ref:
                ref["Version"] = str(ref["Version"])
        doc["TemplateConfiguration"] = tc
    if t.message_configuration is not None:
        doc["MessageConfiguration"] = t.message_configuration.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
    if include_size and t.schedule is not None:
        doc["Schedule"] = t.schedule.to_pinpoint()
    return doc


def _infer_channel(treatments: list[dict[str, Any]]) -> str:
    keys = {
        "EmailTemplate": "EMAIL", "SMSTemplate": "SMS", "PushTemplate": "PUSH",
        "VoiceTemplate": "VOICE", "InAppTemplate": "IN_APP", "EmailMessage": "EMAIL",
        "SMSMessage": "SMS", "APNSMessage": "PUSH", "GCMMessage": "PUSH",
        "DefaultMessage": "PUSH", "CustomMessage": "CUSTOM",
    }  # fmt: skip
    for t in treatments:
        for part in ("TemplateConfiguration", "MessageConfiguration"):
            for key in t.get(part) or {}:
                if key in keys:
                    return keys[key]
    return "EMAIL"


def _has_message(t: Treatment, channel: str) -> bool:
    m = t.message_configuration
    if m is None:
        return False
    if channel == "EMAIL":
        return m.email_message is not None
    if channel in ("SMS", "VOICE"):
        return m.sms_message is not None
    if channel == "PUSH":
        return any(x is not None for x in (m.apns_message, m.gcm_message, m.default_message))
    if channel == "CUSTOM":
        return m.custom_message is not None
    return m.default_message is not None


def definition_error(exc: ValidationError, kind: str = KIND) -> DefinitionError:
    """pydantic's first error as a DefinitionError with the dotted Pinpoint path of the field."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, _PathError):
        loc.append(inner.path)
        msg = str(inner)
    elif err["type"] == "extra_forbidden":
        msg = "unknown field; expected a Pinpoint field name of this object"
    elif err["type"] == "missing":
        msg = "this field is required"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        if "input" in err and not isinstance(err["input"], (dict, list)):
            msg += f"; got {err['input']!r}"
    return DefinitionError(msg, path=".".join(loc) or None, kind=kind)


# ---- planning ----------------------------------------------------------------------------------
AudienceLike: TypeAlias = pd.Series | np.ndarray | Literal["all"] | None


@dataclass(frozen=True)
class PlanInputs:
    """What a plan was made from (kept on ``plan.attrs`` and in the run record)."""

    run_id: str
    campaign: str
    campaign_version: int
    occurrence: str | None
    now: str
    messages_per_second: int | None
    maximum_duration: int | None
    priority: int | None
    counts: dict[str, int] = field(default_factory=dict)


def plan_campaign(
    campaign: Campaign,
    endpoints: pd.DataFrame,
    now: datetime | str | pd.Timestamp,
    history: pd.DataFrame | None = None,
    *,
    settings: ProjectSettings | None = None,
    audience: AudienceLike = None,
    suppressed: Iterable[str] | pd.DataFrame | pd.Series | None = None,
    run_id: str | None = None,
    version: int = 0,
    occurrence: datetime | str | pd.Timestamp | None = None,
    events: pd.DataFrame | None = None,
    segment: Any = None,
    project: Project | None = None,
    step: str = "send",
) -> pd.DataFrame:
    """Plan one run of ``campaign`` over ``endpoints``: one row per audience endpoint.

    ``audience`` is a boolean mask aligned with ``endpoints`` (or ``"all"``); when omitted the
    campaign's segment is evaluated (``segment`` model, or loaded from ``project``). Endpoints of
    other channels than the campaign's are not part of the audience. ``history`` is the ledger
    (``endpoint_id``, ``campaign``, ``status``, ``created_at``, optional ``user_id`` and
    ``run_id``) for limits; ``suppressed`` the suppressed addresses. ``occurrence`` picks the
    scheduled run (default: the one due at ``now``). Event-triggered campaigns need ``events``.

    Pure: the same inputs give the same plan; no input is modified.
    """
    settings = settings or ProjectSettings.model_validate({"name": "default"})
    now_ts = to_utc(now, "UTC")
    schedule = campaign.schedule
    n_all = len(endpoints)

    # -- audience ----------------------------------------------------------------------------
    mask = _audience_mask(campaign, endpoints, now_ts, audience, segment, project, events)
    channel_types = _CHANNEL_ENDPOINTS[campaign.channel]
    if "ChannelType" in endpoints.columns:
        ch = endpoints["ChannelType"]
        mask &= ch.isin(channel_types).to_numpy(dtype=bool, na_value=False)
    else:
        mask &= False
    event_due: np.ndarray | None = None
    if schedule.event_triggered:
        if events is None:
            raise DefinitionError(
                "an event-triggered campaign is planned from events: pass events=",
                path="Schedule.EventFilter",
                kind=KIND,
            )
        first = _first_matching_event(campaign, events, now_ts)
        ids = endpoints["Id"].astype("string")
        pos_map = first.reindex(ids.to_numpy())
        has = pos_map.notna().to_numpy()
        mask &= has
        event_due = pos_map.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    n = int(mask.sum())
    sel = None if n == n_all else mask
    ids_s, users_s, address_s = _select_columns(endpoints, ("Id", "User.UserId", "Address"), sel, n)

    def col(name: str) -> pd.Series:
        return _select_columns(endpoints, (name,), sel, n)[0]

    # address checks and the history index run in threads while allocation and timing run here
    limits = _limit_values(campaign, settings)
    pool = ThreadPoolExecutor(max_workers=2)
    addr_future = pool.submit(_address_flags, address_s, suppressed)
    hist_future = pool.submit(_index_history, history, run_id, endpoints, campaign.name, now_ts,
                              bool(limits[0] or limits[1])) if any(limits) else None  # fmt: skip

    # -- allocation --------------------------------------------------------------------------
    alloc = campaign.allocation()
    ukeys = unit_keys(units(pd.DataFrame({"Id": ids_s, "User.UserId": users_s}, copy=False)))
    arm_idx = alloc.arm_index(keys_to_buckets(ukeys, campaign.allocation_salt))
    arm_names = alloc.names
    is_holdout = np.zeros(n, dtype=bool)
    if campaign.holdout_percent:
        is_holdout = arm_idx == arm_names.index(HOLDOUT)
    # treatment number per row (holdout rows follow treatment 0's timing)
    arm_to_treatment = np.array(
        [0 if name == HOLDOUT else int(name) for name in arm_names], dtype=np.int8
    )
    treatment_no = arm_to_treatment[arm_idx]

    # -- timing ------------------------------------------------------------------------------
    tz_col = col("Demographic.Timezone") if "Demographic.Timezone" in endpoints.columns else None
    zones = endpoint_zones(tz_col, n, settings.default_timezone)
    has_zone = has_valid_zone(tz_col, n)
    quiet = schedule.quiet_time or settings.quiet_time
    mode = schedule.quiet_time_mode
    occ = to_utc(occurrence, schedule.tz) if occurrence is not None else None
    passed = np.zeros(n, dtype=bool)
    if event_due is not None:
        raw = (
            pd.Series(np.maximum(event_due[mask], np.datetime64(now_ts.tz_localize(None), "us")))
            .astype("datetime64[us]")
            .dt.tz_localize("UTC")
        )
        adjusted, in_quiet = quiet_time_adjust(raw, zones, quiet, mode)
        raw_values = raw.to_numpy(dtype="datetime64[us]")
        due_values = adjusted.to_numpy(dtype="datetime64[us]")
        occ_for = [now_ts]
    else:
        occ_for = []
        n_zones = len(zones.categories)
        raw_m = np.empty((len(campaign.treatments), n_zones), dtype="int64")
        adj_m = np.empty_like(raw_m)
        quiet_m = np.zeros_like(raw_m, dtype=bool)
        late_raw_m = np.zeros_like(raw_m, dtype=bool)
        late_adj_m = np.zeros_like(raw_m, dtype=bool)
        local = np.zeros(len(campaign.treatments), dtype=bool)
        for t in range(len(campaign.treatments)):
            sched = campaign.treatment_schedule(t)
            t_occ = _treatment_occurrence(campaign, t, occ, now_ts)
            occ_for.append(t_occ)
            local[t] = sched.is_local_time
            wall = sched.wall_clock(t_occ)
            for z, name in enumerate(zones.categories):
                at = localize(wall, name) if sched.is_local_time else t_occ
                moved, q = quiet_instant(at, name, quiet, mode)
                raw_m[t, z] = at.value // 1000
                adj_m[t, z] = moved.value // 1000
                quiet_m[t, z] = q
                late_raw_m[t, z] = _after_end(sched, at, name)
                late_adj_m[t, z] = _after_end(sched, moved, name)
        flat = treatment_no.astype(np.int64) * n_zones + zones.codes
        raw_values = raw_m.reshape(-1)[flat].view("datetime64[us]")
        due_values = adj_m.reshape(-1)[flat].view("datetime64[us]")
        in_quiet = quiet_m.reshape(-1)[flat] & has_zone
        late = np.where(in_quiet, late_adj_m.reshape(-1)[flat], late_raw_m.reshape(-1)[flat])
        # a local-time wave already over when the run is planned is not sent late
        cutoff = np.datetime64((now_ts - LOCAL_TIME_GRACE).tz_localize(None), "us")
        passed = local[treatment_no] & (raw_values < cutoff)
    # Pinpoint applies quiet time only to endpoints with a valid Demographic.Timezone
    in_quiet = in_quiet & has_zone
    due_values = np.where(in_quiet, due_values, raw_values)
    if event_due is not None:
        end = schedule.end
        late = np.zeros(n, dtype=bool) if end is None else (
            due_values > np.datetime64(end.tz_localize(None), "us")
        )  # fmt: skip

    # -- eligibility -------------------------------------------------------------------------
    reason = np.zeros(n, dtype=np.int8)  # 0 = none; k = REASONS[k - 1]

    def mark(code: str, cond: np.ndarray) -> None:
        reason[(reason == 0) & cond] = REASONS.index(code) + 1

    mark("OPTED_OUT", _eq(col("OptOut"), "ALL"))
    mark("INACTIVE", _eq(col("EndpointStatus"), "INACTIVE"))
    blank, supp_hit = addr_future.result()
    hist_index = hist_future.result() if hist_future is not None else None
    pool.shutdown()
    mark("NO_ADDRESS", blank)
    if supp_hit is not None:
        mark("SUPPRESSED", supp_hit)
    mark("OUTSIDE_SCHEDULE", late)
    mark("LOCAL_TIME_PASSED", passed)
    if schedule.quiet_time_mode == "SKIP":
        mark("QUIET_TIME", in_quiet)
    _mark_limits(mark, reason, limits, hist_index, ids_s, ukeys, is_holdout)
    mark("HOLDOUT", is_holdout)

    # -- assemble ----------------------------------------------------------------------------
    first_occ = occ_for[0]
    rid = run_id or default_run_id(campaign, first_occ)
    tmpl_names, tmpl_versions = [], []
    for treatment in campaign.treatments:
        ref = treatment.template_for(campaign.channel)
        tmpl_names.append(ref.name if ref else "")
        tmpl_versions.append(ref.version or 0 if ref else 0)
    tnames = [HOLDOUT if h else str(i) for i, h in enumerate([False] * len(campaign.treatments))]
    treat_cats = [*tnames, HOLDOUT] if campaign.holdout_percent else tnames
    treat_codes = np.where(is_holdout, len(tnames), treatment_no).astype(np.int8)
    tmpl_cats = list(dict.fromkeys(tmpl_names))
    tmpl_codes = np.array([tmpl_cats.index(x) for x in tmpl_names], dtype=np.int8)[treatment_no]
    reasons_cat = pd.Categorical.from_codes(reason.astype(np.int8) - 1, categories=list(REASONS))
    status = pd.Categorical.from_codes((reason > 0).astype(np.int8), categories=list(STATUSES))
    index = pd.RangeIndex(n)
    plan = pd.DataFrame(
        {
            "run_id": _const(rid, n),
            "campaign": _const(campaign.name, n),
            "campaign_version": pd.Series(np.full(n, version, dtype=np.int64), copy=False),
            "treatment_id": pd.Categorical.from_codes(treat_codes, categories=treat_cats),
            "holdout": is_holdout,
            "endpoint_id": ids_s.array,
            "user_id": users_s.array,
            "channel_type": _categorical_of(col("ChannelType")),
            "address": address_s.array,
            "template": pd.Categorical.from_codes(tmpl_codes, categories=tmpl_cats),
            "template_version": np.array(tmpl_versions, dtype=np.int64)[treatment_no],
            "due_at": pd.arrays.DatetimeArray._from_sequence(  # type: ignore[attr-defined]
                due_values, dtype=TIMESTAMP_DTYPE
            ),
            "timezone": zones,
            "status": status,
            "reason": reasons_cat,
            "step": _const(step, n),
        },
        index=index,
    )
    plan.attrs["plan"] = PlanInputs(
        run_id=rid,
        campaign=campaign.name,
        campaign_version=version,
        occurrence=None if first_occ is None else first_occ.isoformat(),
        now=now_ts.isoformat(),
        messages_per_second=campaign.limits.messages_per_second
        or settings.limits.messages_per_second
        or None,
        maximum_duration=campaign.limits.maximum_duration
        or settings.limits.maximum_duration
        or None,
        priority=campaign.priority,
        counts=plan_counts(plan),
    ).__dict__
    return plan


def _treatment_occurrence(
    campaign: Campaign, t: int, occ: pd.Timestamp | None, now: pd.Timestamp
) -> pd.Timestamp:
    """The run's nominal instant for treatment ``t``: its own ONCE time if it has one."""
    sched = campaign.treatment_schedule(t)
    if t > 0 and campaign.treatments[t].schedule is not None:
        if sched.frequency == "ONCE" and not sched.immediate:
            assert sched.start is not None
            return sched.start
        base = occ if occ is not None else occurrence_at(campaign.schedule, now)
        # a recurring treatment keeps its own time of day on the run's date
        if base is not None:
            found = occurrence_at(sched, base + pd.Timedelta(hours=23, minutes=59))
            if found is not None:
                return found
    if occ is not None:
        return occ
    found = occurrence_at(sched, now)
    if found is None:
        raise DefinitionError(
            f"the schedule of campaign {campaign.name!r} has no run at {now.isoformat()}",
            path="Schedule",
            kind=KIND,
        )
    return found


def _after_end(schedule: Schedule, due: pd.Timestamp, zone_name: str) -> bool:
    """Whether ``due`` is past the schedule's EndTime — in the recipient's wall-clock time when
    the schedule uses local time (Pinpoint: start and end are then local)."""
    if schedule.end_time is None:
        return False
    if not schedule.is_local_time:
        end = schedule.end
        return end is not None and due > end
    end_wall = schedule.end_time
    if end_wall.tzinfo is not None:
        end_wall = end_wall.astimezone(schedule.tz).replace(tzinfo=None)
    local_wall = due.tz_convert(zone(zone_name)).to_pydatetime().replace(tzinfo=None)
    return local_wall > end_wall


def default_run_id(campaign: Campaign, occurrence: pd.Timestamp) -> str:
    """``<campaign>-<occurrence as YYYYMMDDTHHMMSSZ>``: reruns of one occurrence share it."""
    return f"{campaign.name}-{occurrence.tz_convert('UTC'):%Y%m%dT%H%M%SZ}"


def _const(value: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])


def _categorical_of(s: pd.Series) -> pd.Categorical:
    """The column as a categorical of its used string values (by codes, no hashing)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.array
        codes = cat.codes  # type: ignore[union-attr]
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cat.categories)))
        lookup = np.full(len(cat.categories) + 1, -1, dtype=np.int16)
        lookup[used] = np.arange(len(used))
        names = [str(c) for c in cat.categories[used]]
        return pd.Categorical.from_codes(lookup[codes], categories=names)
    return pd.Categorical(s.astype("string"))


def _eq(s: pd.Series, value: str) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = list(s.cat.categories)
        if value not in cats:
            return np.zeros(len(s), dtype=bool)
        return s.cat.codes.to_numpy() == cats.index(value)
    return (s.astype("string") == value).to_numpy(dtype=bool, na_value=False)


def _audience_mask(
    campaign: Campaign,
    endpoints: pd.DataFrame,
    now: pd.Timestamp,
    audience: AudienceLike,
    segment: Any,
    project: Project | None,
    events: pd.DataFrame | None,
) -> np.ndarray:
    n = len(endpoints)
    if isinstance(audience, str):
        if audience != "all":
            raise DefinitionError(f"audience must be a mask or 'all', got {audience!r}")
        return np.ones(n, dtype=bool)
    if audience is not None:
        if isinstance(audience, pd.Series):
            aligned = audience
            if len(audience) != n or not audience.index.equals(endpoints.index):
                aligned = audience.reindex(endpoints.index, fill_value=False)
            return aligned.to_numpy(dtype=bool, na_value=False).copy()
        arr = np.asarray(audience, dtype=bool)
        if arr.shape != (n,):
            raise DefinitionError(f"audience has {arr.shape[0]} values for {n} endpoints")
        return arr.copy()
    from engagekit import segments

    if segment is None:
        if project is None:
            raise DefinitionError(
                "no audience: pass audience= (a boolean mask or 'all'), segment= or project=",
                path="SegmentId",
                kind=KIND,
            )
        segment = segments.load_segment(project, campaign.segment, campaign.segment_version)
    result = segments.evaluate(segment, endpoints, project=project, now=now, events=events)
    return np.array(result.reindex(endpoints.index, fill_value=False), dtype=bool, copy=True)


def _first_matching_event(campaign: Campaign, events: pd.DataFrame, now: pd.Timestamp) -> pd.Series:
    """endpoint id -> time of its first matching event (the trigger)."""
    hit = match_events(campaign.schedule, events)
    matched = events.loc[hit.to_numpy(), ["endpoint_id", "event_timestamp"]]
    times = pd.to_datetime(matched["event_timestamp"], utc=True)
    keep = (times <= now).to_numpy()
    grouped = times[keep].groupby(matched["endpoint_id"].astype("string")[keep]).min()
    return grouped.dt.tz_localize(None).astype("datetime64[us]")


def _suppressed_set(
    suppressed: Iterable[str] | pd.DataFrame | pd.Series | None,
) -> pa.Array | None:
    if suppressed is None:
        return None
    if isinstance(suppressed, pd.DataFrame):
        values = suppressed["address"]
    elif isinstance(suppressed, pd.Series):
        values = suppressed
    else:
        values = pd.Series(list(suppressed), dtype="string")
    arr = pa.array(values.astype("string").dropna(), type=pa.string())
    return pc.unique(pc.utf8_lower(pc.utf8_trim_whitespace(arr)))


_SPACE_BYTES = np.zeros(256, dtype=bool)
_SPACE_BYTES[[9, 10, 11, 12, 13, 32]] = True


def _suppressed_rows(addr: pa.Array | pa.ChunkedArray, supp: pa.Array) -> np.ndarray:
    """Rows whose address, trimmed and lower-cased, is in ``supp`` (already normalized).

    ASCII letters are lower-cased by Arrow's ``ascii_lower``; the rare addresses with
    non-ASCII characters or surrounding spaces go through ``utf8_trim_whitespace`` and
    ``utf8_lower``.
    """
    if isinstance(addr, pa.ChunkedArray):
        addr = addr.combine_chunks()
    addr = addr.cast(pa.large_string())
    n = len(addr)
    offsets = np.frombuffer(addr.buffers()[1], dtype=np.int64)[addr.offset : addr.offset + n + 1]
    data = addr.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    lowered = pc.ascii_lower(addr)  # exact for ASCII; other rows are redone below
    hit = pc.fill_null(pc.is_in(lowered, value_set=supp), False).to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    filled = lengths > 0
    edge = np.zeros(n, dtype=bool)
    if filled.any() and len(raw):
        edge[filled] = (
            _SPACE_BYTES[raw[offsets[:-1][filled]]] | _SPACE_BYTES[raw[offsets[1:][filled] - 1]]
        )
    edge |= ~pc.fill_null(pc.string_is_ascii(addr), True).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(edge)
    if len(rows):
        fixed = pc.utf8_lower(pc.utf8_trim_whitespace(addr.take(pa.array(rows))))
        hit[rows] = pc.fill_null(pc.is_in(fixed, value_set=supp), False).to_numpy(
            zero_copy_only=False
        )
    return hit


def _limit_values(campaign: Campaign, settings: ProjectSettings) -> tuple[int, int, int, int]:
    """(Total, Daily) per endpoint and (per campaign, per day) per user; 0 means no limit."""
    return (
        campaign.limits.total or settings.limits.total or 0,
        campaign.limits.daily or settings.limits.daily or 0,
        settings.limits.max_per_user_per_campaign or 0,
        settings.limits.max_per_user_per_day or 0,
    )


def _address_flags(
    address: pd.Series, suppressed: Iterable[str] | pd.DataFrame | pd.Series | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(blank, suppressed) flags of the addresses; blank means null, empty or whitespace."""
    addr = pa.array(address, from_pandas=True)
    blank = pc.or_kleene(pc.equal(pc.binary_length(addr), 0), pc.utf8_is_space(addr))
    supp = _suppressed_set(suppressed)
    hit = _suppressed_rows(addr, supp) if supp is not None and len(supp) else None
    return pc.fill_null(blank, True).to_numpy(zero_copy_only=False), hit


@dataclass(frozen=True)
class _HistoryIndex:
    """The counted ledger rows as keys: ``mine`` (this campaign), ``recent`` (last 24 h), the
    unique unit keys with each row's position among them, and endpoint keys when needed."""

    mine: np.ndarray
    recent: np.ndarray
    units: np.ndarray
    inverse: np.ndarray
    endpoints: np.ndarray | None


def _index_history(
    history: pd.DataFrame | None,
    run_id: str | None,
    endpoints: pd.DataFrame,
    campaign: str,
    now: pd.Timestamp,
    with_endpoints: bool,
) -> _HistoryIndex | None:
    hist = _counted_history(history, run_id, endpoints)
    if hist is None or not len(hist):
        return None
    created = hist["created_at"]
    day_ago = now - pd.Timedelta(hours=24)
    uniq, inverse = np.unique(unit_keys(hist["user_unit"]), return_inverse=True)
    return _HistoryIndex(
        mine=(hist["campaign"] == campaign).to_numpy(dtype=bool, na_value=False),
        recent=((created > day_ago) & (created <= now)).to_numpy(dtype=bool, na_value=False),
        units=uniq,
        inverse=inverse,
        endpoints=unit_keys(hist["endpoint_id"]) if with_endpoints else None,
    )


def _mark_limits(
    mark: Any,
    reason: np.ndarray,
    limits: tuple[int, int, int, int],
    hist: _HistoryIndex | None,
    ids: pd.Series,
    ukeys: np.ndarray,
    is_holdout: np.ndarray,
) -> None:
    """TOTAL / DAILY (per endpoint, this campaign) and USER_CAMPAIGN / USER_DAILY (per user).

    Joins run on 64-bit unit keys (:func:`engagekit.experiments.unit_keys`), not strings.
    """
    total, daily, user_campaign, user_daily = limits
    if not any(limits):
        return
    n = len(ids)
    # one join of the plan's unit keys against the history's: slot of each plan row (-1: none)
    slot = _key_index(hist.units, ukeys) if hist is not None else np.full(n, -1)

    def per_unit(keep: np.ndarray) -> np.ndarray:
        assert hist is not None
        counts = np.bincount(hist.inverse[keep], minlength=len(hist.units))
        return np.append(counts, 0)[slot]

    if hist is not None and hist.endpoints is not None and (total or daily) and hist.mine.any():
        # only endpoints of units with history can have endpoint history
        rows = np.flatnonzero(per_unit(hist.mine) > 0)
        ep_keys = unit_keys(pa.array(ids, from_pandas=True).take(pa.array(rows)))
        for limit, code, keep in ((total, "TOTAL_LIMIT", hist.mine), (daily, "DAILY_LIMIT",
                                  hist.mine & hist.recent)):  # fmt: skip
            if limit:
                over = np.zeros(n, dtype=bool)
                over[rows] = _count_by_key(hist.endpoints[keep], ep_keys) >= limit
                mark(code, over)
    for limit, code, recent_only, own_campaign in (
        (user_campaign, "USER_CAMPAIGN_LIMIT", False, True),
        (user_daily, "USER_DAILY_LIMIT", True, False),
    ):
        if not limit:
            continue
        prior = np.zeros(n, dtype=np.int64)
        if hist is not None:
            keep = np.ones(len(hist.inverse), dtype=bool)
            if own_campaign:
                keep &= hist.mine
            if recent_only:
                keep &= hist.recent
            prior = per_unit(keep)
        # messages this plan adds to a user before this row (row order), eligible rows only
        eligible = (reason == 0) & ~is_holdout
        mark(code, prior + _rank_within_key(ukeys, eligible) >= limit)


def _count_by_key(keys: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """How often each target key occurs in ``keys`` (uint64 hash join)."""
    if not len(keys) or not len(targets):
        return np.zeros(len(targets), dtype=np.int64)
    uniq, counts = np.unique(keys, return_counts=True)
    return np.append(counts, 0)[_key_index(uniq, targets)]


_FILTER_BITS: Final = 24


def _key_index(uniq: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Position of each target key in ``uniq`` (-1 when absent).

    A bitmap of the keys' low 24 bits rules most targets out with one gather; only the rest
    are probed in a hash table.
    """
    out = np.full(len(targets), -1, dtype=np.int64)
    if not len(uniq) or not len(targets):
        return out
    mask = np.uint64((1 << _FILTER_BITS) - 1)
    seen = np.zeros(1 << _FILTER_BITS, dtype=bool)
    seen[(uniq & mask).astype(np.int64)] = True
    maybe = np.flatnonzero(seen[(targets & mask).astype(np.int64)])
    if len(maybe):
        out[maybe] = pd.Index(uniq).get_indexer(targets[maybe])
    return out


def _rank_within_key(keys: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """0, 1, 2 … for the eligible rows of each key in row order (0 elsewhere)."""
    rank = np.zeros(len(keys), dtype=np.int64)
    sel = np.flatnonzero(eligible)
    if len(sel) < 2:
        return rank
    ordered = np.sort(keys[sel])
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return rank
    repeated = pd.Index(np.unique(ordered[1:][same])).get_indexer(keys[sel]) >= 0
    rows = sel[repeated]
    codes, _ = pd.factorize(keys[rows])
    rank[rows] = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    return rank


def _select_columns(
    endpoints: pd.DataFrame, names: Sequence[str], mask: np.ndarray | None, n: int
) -> list[pd.Series]:
    """The rows of ``mask`` of some columns (Arrow filter, in threads; categoricals by codes)."""

    def one(name: str) -> pd.Series:
        if name not in endpoints.columns:
            return pd.Series(pd.array([None] * n, dtype="string"))
        s = endpoints[name]
        if mask is None:
            return s.reset_index(drop=True)
        arr = s.array
        if isinstance(arr, pd.Categorical):
            return pd.Series(pd.Categorical.from_codes(arr.codes[mask], dtype=arr.dtype))
        if hasattr(arr, "__arrow_array__"):
            chunked = arr.__arrow_array__()
            return pd.Series(pd.array(pc.filter(chunked, pa.array(mask)), dtype=s.dtype))
        return pd.Series(s.to_numpy()[mask], dtype=s.dtype)

    if len(names) == 1 or n < 100_000:
        return [one(name) for name in names]
    with ThreadPoolExecutor(max_workers=min(len(names), 4)) as pool:
        return list(pool.map(one, names))


def _counted_history(
    history: pd.DataFrame | None, run_id: str | None, endpoints: pd.DataFrame | None = None
) -> pd.DataFrame | None:
    """Ledger rows that count toward limits (targeted: pending, sent, failed), this run aside.

    ``user_unit`` is the row's user: the history's ``user_id`` when present, else the user of
    its endpoint in ``endpoints``, else the endpoint id — the same fallback as the plan's units,
    so a plan row and its endpoint's history always share a unit key.
    """
    if history is None or not len(history):
        return None
    h = history
    if "status" in h.columns:
        h = h[h["status"].astype("string").isin(COUNTED_STATUSES).to_numpy(dtype=bool)]
    if run_id is not None and "run_id" in h.columns:
        h = h[(h["run_id"].astype("string") != run_id).to_numpy(dtype=bool, na_value=True)]
    created = h["created_at"]
    if not isinstance(created.dtype, pd.DatetimeTZDtype):
        created = pd.to_datetime(created, utc=True, format="ISO8601")
    ep = h["endpoint_id"].astype("string")
    # the ledger's user_id is the plan's; where it is missing, look the endpoint's user up
    unit = h["user_id"].astype("string") if "user_id" in h.columns else None
    missing = np.ones(len(h), dtype=bool) if unit is None else unit.isna().to_numpy()
    if missing.any() and endpoints is not None and "User.UserId" in endpoints.columns:
        mapped = _users_of(ep[missing], endpoints)
        if unit is None:
            unit = mapped
        else:
            unit = unit.copy()
            unit[missing] = mapped.to_numpy()
    return pd.DataFrame(
        {
            "endpoint_id": ep,
            "campaign": h["campaign"].astype("string") if "campaign" in h.columns else pd.NA,
            "created_at": created,
            "user_unit": ep if unit is None else unit.where(unit.notna(), ep),
        }
    )


def _users_of(endpoint_ids: pd.Series, endpoints: pd.DataFrame) -> pd.Series:
    """The ``User.UserId`` of each endpoint id (NA when unknown), probing the big frame once."""
    uniq = pc.unique(pa.array(endpoint_ids, type=pa.string()))
    all_ids = pa.array(endpoints["Id"].astype("string"), type=pa.string())
    where = pc.index_in(all_ids, value_set=uniq)  # position in uniq of each endpoint row
    rows = np.flatnonzero(pc.is_valid(where).to_numpy(zero_copy_only=False))
    user_of_uniq = np.full(len(uniq), None, dtype=object)
    slots = where.to_numpy(zero_copy_only=False)[rows].astype(np.int64)
    user_of_uniq[slots] = (
        endpoints["User.UserId"].astype("string").iloc[rows].to_numpy(dtype=object, na_value=None)
    )
    pos = pc.index_in(pa.array(endpoint_ids, type=pa.string()), value_set=uniq)
    out = user_of_uniq[pos.to_numpy(zero_copy_only=False).astype(np.int64)]
    return pd.Series(out, index=endpoint_ids.index, dtype="string")


def plan_counts(plan: pd.DataFrame) -> dict[str, int]:
    """Rows per status and per exclusion reason (zeros omitted)."""
    out: dict[str, int] = {"rows": len(plan)}
    out |= {f"status.{k}": int(v) for k, v in plan["status"].value_counts().items() if v}
    out |= {f"reason.{k}": int(v) for k, v in plan["reason"].value_counts().items() if v}
    return out


def reason_counts(plan: pd.DataFrame) -> pd.DataFrame:
    """Rows per treatment and outcome (``scheduled`` or the exclusion reason)."""
    outcome = plan["reason"].astype("string").fillna("SCHEDULED")
    return (
        pd.crosstab(plan["treatment_id"].astype("string"), outcome)
        .rename_axis(index="treatment_id", columns="outcome")
        .astype("int64")
    )


def allocation_check(plan: pd.DataFrame, campaign: Campaign, *, threshold: float = 0.001) -> Any:
    """SRM check of the plan's users per arm against the design (counts distinct users)."""
    unit = plan["user_id"].astype("string").where(plan["user_id"].notna(), plan["endpoint_id"])
    per_user = pd.DataFrame({"unit": unit, "arm": plan["treatment_id"].astype("string")})
    counts = per_user.drop_duplicates("unit")["arm"].value_counts()
    return srm_check(counts, campaign.allocation().shares(), threshold=threshold)


# ---- project store -----------------------------------------------------------------------------
def save_campaign(project: Project, campaign: Campaign, *, comment: str | None = None) -> int:
    """Validate references, pin segment/template versions, check edit rules, store a version."""
    pinned = pin_versions(project, campaign)
    try:
        previous = load_campaign(project, campaign.name)
    except NotFoundError:
        previous = None
    if previous is not None:
        check_edit(previous, pinned)
    return project.store.save_definition(
        KIND, pinned.name, pinned.model_dump(mode="json", by_alias=True), comment=comment
    )


def load_campaign(project: Project, name: str, version: int | None = None) -> Campaign:
    rec = project.store.get_definition(KIND, name, version)
    return Campaign.parse(rec.body)


def campaign_version(project: Project, name: str) -> int:
    return project.store.get_definition(KIND, name).version


def list_campaigns(project: Project, *, include_deleted: bool = False) -> pd.DataFrame:
    """One row per campaign: name, state, channel, treatments, holdout, schedule, versions."""
    heads = project.store.list_definitions(KIND, include_deleted=include_deleted)
    rows = []
    for _, head in heads.iterrows():
        c = Campaign.parse(project.store.get_definition(KIND, head["name"], int(
            head["active_version"])).body)  # fmt: skip
        rows.append(
            {
                "name": c.name,
                "state": c.state,
                "channel": c.channel,
                "segment": c.segment,
                "treatments": len(c.treatments),
                "holdout_percent": c.holdout_percent,
                "frequency": c.schedule.frequency,
                "version": int(head["active_version"]),
                "updated_at": head["updated_at"],
            }
        )
    columns = ["name", "state", "channel", "segment", "treatments", "holdout_percent",
               "frequency", "version", "updated_at"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def pin_versions(project: Project, campaign: Campaign) -> Campaign:
    """The campaign with its segment and templates pinned to existing versions.

    Unknown segments or templates raise :class:`DefinitionError` with the field path.
    """
    store = project.store
    seg_version = campaign.segment_version
    try:
        rec = store.get_definition("segment", campaign.segment, seg_version)
    except NotFoundError as exc:
        raise DefinitionError(str(exc), path="SegmentId", kind=KIND) from None
    seg_version = rec.version
    treatments = []
    for i, t in enumerate(campaign.treatments):
        ref = t.template_for(campaign.channel)
        if ref is None:
            treatments.append(t)
            continue
        slot = _TEMPLATE_SLOT[campaign.channel]
        alias = TemplateConfiguration.model_fields[slot].alias  # type: ignore[index]
        try:
            trec = store.get_definition("template", ref.name, ref.version)
        except NotFoundError as exc:
            raise DefinitionError(
                str(exc), path=f"Treatments.{i}.TemplateConfiguration.{alias}.Name", kind=KIND
            ) from None
        tc = t.template_configuration
        assert tc is not None and slot is not None
        new_ref = ref.model_copy(update={"version": trec.version})
        treatments.append(
            t.model_copy(update={"template_configuration": tc.model_copy(update={slot: new_ref})})
        )
    return campaign.model_copy(
        update={"segment_version": seg_version, "treatments": tuple(treatments)}
    )


def check_edit(old: Campaign, new: Campaign) -> None:
    """Pinpoint's edit rules: no frequency change once launched; no treatment change of a
    launched A/B test; states move only along allowed transitions."""
    if old.state == "deleted":
        raise DefinitionError(f"campaign {old.name!r} is deleted; copy it to reuse it", kind=KIND)
    if new.state != old.state and new.state not in _TRANSITIONS[old.state]:
        raise DefinitionError(
            f"cannot go from {old.state} to {new.state}; allowed: "
            f"{', '.join(_TRANSITIONS[old.state]) or 'none'}",
            path="State",
            kind=KIND,
        )
    if old.state == "draft":
        return
    if old.schedule.frequency != new.schedule.frequency:
        raise DefinitionError(
            f"the frequency of a launched campaign cannot change ({old.schedule.frequency} -> "
            f"{new.schedule.frequency}); copy the campaign instead",
            path="Schedule.Frequency",
            kind=KIND,
        )
    if (old.allocation_salt != new.allocation_salt) or old.name != new.name:
        raise DefinitionError(
            "the allocation salt of a launched campaign cannot change", path="Salt", kind=KIND
        )
    if old.is_ab_test or new.is_ab_test:
        same = old.treatments == new.treatments and old.holdout_percent == new.holdout_percent
        if not same:
            raise DefinitionError(
                "the treatments and holdout of a launched A/B test cannot change; "
                "copy the campaign to test something else",
                path="Treatments",
                kind=KIND,
            )


def set_state(project: Project, name: str, state: str, *, comment: str | None = None) -> Campaign:
    """Move a campaign to ``state`` (checked against the allowed transitions) and save it."""
    current = load_campaign(project, name)
    if state == current.state:
        return current
    new = current.model_copy(update={"state": state})
    check_edit(current, new)
    project.store.save_definition(
        KIND, name, new.model_dump(mode="json", by_alias=True), comment=comment or state
    )
    return new


def launch(project: Project, name: str) -> Campaign:
    """draft -> scheduled: from now on the frequency and A/B treatments are fixed."""
    return set_state(project, name, "scheduled")


def pause(project: Project, name: str) -> Campaign:
    return set_state(project, name, "paused")


def resume(project: Project, name: str) -> Campaign:
    """paused -> scheduled (the next due run plans again)."""
    return set_state(project, name, "scheduled")


def complete(project: Project, name: str) -> Campaign:
    return set_state(project, name, "completed")


def delete(project: Project, name: str) -> None:
    """Mark deleted (versions, plans and runs stay readable for analytics)."""
    current = load_campaign(project, name)
    if current.state != "deleted":
        project.store.save_definition(
            KIND,
            name,
            current.model_copy(update={"state": "deleted"}).model_dump(mode="json", by_alias=True),
            comment="deleted",
        )
    project.store.delete_definition(KIND, name)


def copy_campaign(project: Project, name: str, new_name: str) -> Campaign:
    """A draft copy under a new name (and so a new allocation salt)."""
    if new_name in project.store.names(KIND, include_deleted=True):
        raise DefinitionError(f"{new_name!r} already exists", path="Name", kind=KIND)
    source = load_campaign(project, name)
    copy = source.model_copy(update={"name": new_name, "state": "draft", "salt": None})
    copy = Campaign.parse(copy.model_dump(mode="json", by_alias=True))
    save_campaign(project, copy, comment=f"copy of {name}")
    return copy


def edit_campaign(project: Project, name: str, **changes: Any) -> Campaign:
    """Change fields (Python names) of the active version and save, under the edit rules."""
    current = load_campaign(project, name)
    new = current.with_changes(**changes)
    save_campaign(project, new, comment="edit")
    return new


# ---- plans and runs ----------------------------------------------------------------------------
def plans_dir(project: Project) -> Any:
    return project.store.root / "plans"


def save_plan(project: Project, plan: pd.DataFrame) -> Any:
    """Write a plan to ``store/plans/<run_id>.parquet`` (atomically); returns the path."""
    ids = plan["run_id"].astype("string").unique()
    if len(ids) != 1:
        raise DefinitionError(f"a plan holds exactly one run_id, found {len(ids)}", kind=KIND)
    run_id = str(ids[0])
    if "/" in run_id or run_id.startswith("."):
        raise DefinitionError(f"run_id {run_id!r} cannot be a file name", kind=KIND)
    plans_dir(project).mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(plan, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"engagekit.plan"] = json.dumps(plan.attrs.get("plan", {}), default=str).encode()
    table = table.replace_schema_metadata(meta)
    return project.store.write_table(f"plans/{run_id}.parquet", table)


def load_plan(project: Project, run_id: str) -> pd.DataFrame:
    table = project.store.read_table(f"plans/{run_id}.parquet")
    if table is None:
        known = sorted(p.stem for p in plans_dir(project).glob("*.parquet"))
        raise NotFoundError("plan", run_id, known=known[-10:])
    plan = table.to_pandas()
    raw = (table.schema.metadata or {}).get(b"engagekit.plan")
    if raw:
        plan.attrs["plan"] = json.loads(raw)
    return plan


def load_plans(project: Project, campaign: str) -> pd.DataFrame:
    """Every saved plan of a campaign, concatenated (oldest run first)."""
    frames = []
    for path in sorted(plans_dir(project).glob("*.parquet")):
        table = project.store.read_table(f"plans/{path.name}", columns=["campaign"])
        if table is None or campaign not in set(table.column("campaign").unique().to_pylist()):
            continue
        frames.append(load_plan(project, path.stem))
    if not frames:
        return _empty_plan()
    frames = [f for f in frames if (f["campaign"].astype("string") == campaign).all()]
    out = pd.concat([f.astype({c: "string" for c in _CATEGORICAL}) for f in frames],
                    ignore_index=True)  # fmt: skip
    return out.astype({c: "category" for c in _CATEGORICAL})


_CATEGORICAL = ("run_id", "campaign", "treatment_id", "channel_type", "template", "timezone",
                "status", "reason", "step")  # fmt: skip


def _empty_plan() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(
                dtype=TIMESTAMP_DTYPE
                if c == "due_at"
                else "bool"
                if c == "holdout"
                else "int64"
                if c in ("campaign_version", "template_version")
                else "string"
            )
            for c in PLAN_COLUMNS
        }
    )


def read_history(project: Project) -> pd.DataFrame:
    """The ledger as limit history: run_id, endpoint_id, campaign, status, created_at, and
    user_id when the ledger keeps it (delivery's migration adds it)."""
    conn = project.store.connect()
    have = {r[1] for r in conn.execute("PRAGMA table_info(ledger)")}
    columns = ["run_id", "endpoint_id", "campaign", "status", "created_at"]
    columns += [c for c in ("user_id",) if c in have]
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM ledger").fetchall()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    return frame.astype({c: "string" for c in columns if c != "created_at"})


def read_suppressed(project: Project) -> pd.Series:
    rows = project.store.connect().execute("SELECT address FROM suppression")
    return pd.Series([r[0] for r in rows], dtype="string", name="address")


def read_project_endpoints(project: Project) -> pd.DataFrame:
    """The project's endpoint snapshot (``engagekit.endpoints.read_endpoints`` when present)."""
    from engagekit.endpoints import read_endpoints

    return read_endpoints(project)


def record_run(
    project: Project,
    plan: pd.DataFrame,
    *,
    kind: str = "campaign",
    status: str = "planned",
    details: Mapping[str, Any] | None = None,
) -> str:
    """Insert (or refresh) the run's row in the ``runs`` table; returns the run id."""
    info = dict(plan.attrs.get("plan", {}))
    run_id = info.get("run_id") or str(plan["run_id"].iloc[0])
    body = json.dumps({**info, **(details or {})}, default=str)
    now = pd.Timestamp.now(tz="UTC").isoformat()
    with project.store.transaction() as conn:
        conn.execute(
            "INSERT INTO runs (run_id, campaign, campaign_version, kind, scheduled_for, status, "
            "started_at, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE "
            "SET campaign_version=excluded.campaign_version, details=excluded.details, "
            "status=CASE WHEN runs.status IN ('running','completed') THEN runs.status "
            "ELSE excluded.status END",
            (
                run_id,
                info.get("campaign"),
                info.get("campaign_version"),
                kind,
                info.get("occurrence"),
                status,
                now,
                body,
            ),
        )
    return run_id


def run_history(project: Project, name: str | None = None) -> pd.DataFrame:
    """The runs table (optionally one campaign's runs), newest first, details parsed."""
    sql = "SELECT * FROM runs"
    args: tuple[Any, ...] = ()
    if name is not None:
        sql += " WHERE campaign=?"
        args = (name,)
    rows = [
        dict(r)
        for r in project.store.connect().execute(
            sql + " ORDER BY scheduled_for DESC, started_at DESC", args
        )
    ]
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["details"] = frame["details"].map(lambda d: json.loads(d) if d else {})
    return frame


@dataclass
class DryRun:
    """A plan stopped before delivery: the plan, counts per reason, rendered previews."""

    plan: pd.DataFrame
    counts: pd.DataFrame
    previews: pd.DataFrame
    srm: Any = None

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        return (
            "<h4>counts</h4>"
            + self.counts.to_html()
            + "<h4>previews</h4>"
            + self.previews.to_html()
        )


def plan_run(
    project: Project,
    campaign_name: str,
    now: datetime | str | pd.Timestamp | None = None,
    *,
    dry_run: bool = False,
    occurrence: datetime | str | pd.Timestamp | None = None,
    events: pd.DataFrame | None = None,
    endpoints: pd.DataFrame | None = None,
    run_id: str | None = None,
    sample: int = 3,
) -> pd.DataFrame | DryRun:
    """Plan the run of a saved campaign due at ``now``; save the plan and record the run.

    Resolves the pinned segment and templates, reads endpoints, the ledger (limits) and the
    suppression list. ``dry_run=True`` saves nothing and returns a :class:`DryRun`.
    """
    now_ts = to_utc(now if now is not None else pd.Timestamp.now(tz="UTC"), "UTC")
    rec = project.store.get_definition(KIND, campaign_name)
    campaign = Campaign.parse(rec.body)
    if not dry_run and campaign.state in ("paused", "completed", "deleted", "draft"):
        raise DefinitionError(
            f"campaign {campaign.name!r} is {campaign.state}; "
            + (
                "launch it first"
                if campaign.state == "draft"
                else "resume it first"
                if campaign.state == "paused"
                else "copy it to run again"
            ),
            path="State",
            kind=KIND,
        )
    from engagekit import segments

    segment = segments.load_segment(project, campaign.segment, campaign.segment_version)
    frame = endpoints if endpoints is not None else read_project_endpoints(project)
    if campaign.schedule.event_triggered and events is None:
        events = new_events(project, campaign, now_ts)
    plan = plan_campaign(
        campaign,
        frame,
        now_ts,
        read_history(project),
        settings=project.settings,
        suppressed=read_suppressed(project),
        run_id=run_id,
        version=rec.version,
        occurrence=occurrence,
        events=events,
        segment=segment,
        project=project,
    )
    if dry_run:
        return dry_run_report(
            plan, campaign, frame, project=project, sample=sample, now=now_ts.to_pydatetime()
        )
    save_plan(project, plan)
    record_run(project, plan)
    return plan


def new_events(project: Project, campaign: Campaign, now: pd.Timestamp) -> pd.DataFrame:
    """Events of the lake that may trigger an event campaign: since its last recorded run (or
    its StartTime, or a day back) up to ``now``, of the filtered event types."""
    since = None
    runs = run_history(project, campaign.name)
    if len(runs):
        stamps = [pd.Timestamp(d["now"]) for d in runs["details"] if d.get("now")]
        since = max(stamps) if stamps else None
    if since is None:
        since = campaign.schedule.start or now - pd.Timedelta(days=1)
    flt = campaign.schedule.event_filter
    wanted = None if flt is None else flt.dimensions.event_type
    types = list(wanted.values) if wanted and wanted.dimension_type == "INCLUSIVE" else None
    from engagekit.events import read_events

    return read_events(project, start=since, end=now + pd.Timedelta(microseconds=1),
                       event_types=types)  # fmt: skip


def dry_run_report(
    plan: pd.DataFrame,
    campaign: Campaign,
    endpoints: pd.DataFrame,
    *,
    project: Project | None = None,
    templates: Mapping[str, Any] | None = None,
    sample: int = 3,
    now: datetime | None = None,
) -> DryRun:
    """Counts per treatment and reason, and rendered previews of ``sample`` rows per treatment.

    Templates come from ``templates`` (treatment id -> template) or the project's store.
    """
    scheduled = plan[plan["status"] == "scheduled"]
    picks = scheduled.groupby("treatment_id", observed=True, sort=True).head(sample)
    previews = []
    for tid, rows in picks.groupby("treatment_id", observed=True, sort=True):
        template = treatment_template(campaign, str(tid), project, templates)
        if template is None:
            continue
        from engagekit.templates import render_batch

        ref = campaign.treatments[int(str(tid))].template_for(campaign.channel)
        rendered = render_batch(
            rows,
            template,
            endpoints,
            name=ref.name if ref else None,
            version=ref.version if ref else None,
            now=now,
        )
        previews.append(pd.concat([rows[["treatment_id", "endpoint_id", "address"]],
                                   rendered], axis=1))  # fmt: skip
    preview = pd.concat(previews) if previews else pd.DataFrame(
        columns=["treatment_id", "endpoint_id", "address"])  # fmt: skip
    return DryRun(
        plan=plan,
        counts=reason_counts(plan),
        previews=preview,
        srm=allocation_check(plan, campaign) if len(plan) else None,
    )


def treatment_template(
    campaign: Campaign,
    treatment_id: str,
    project: Project | None = None,
    templates: Mapping[str, Any] | None = None,
) -> Any:
    """The template a treatment sends: ``templates[treatment_id]``, the pinned template from the
    project, or a template built from the treatment's inline MessageConfiguration."""
    if templates is not None and treatment_id in templates:
        return templates[treatment_id]
    if treatment_id == HOLDOUT:
        return None
    treatment = campaign.treatments[int(treatment_id)]
    ref = treatment.template_for(campaign.channel)
    if ref is not None:
        if project is None:
            return None
        from engagekit.templates import load_template

        return load_template(project, ref.name, ref.version)
    return inline_template(campaign.channel, treatment.message_configuration)


def inline_template(channel: str, config: MessageConfiguration | None) -> Any:
    """A template model (engagekit.templates) for an inline Pinpoint message, or None."""
    if config is None:
        return None
    from engagekit import templates as tm

    if channel == "EMAIL" and config.email_message is not None:
        m = config.email_message
        return tm.EmailTemplate.model_validate(
            {"Subject": m.title, "HtmlPart": m.html_body, "TextPart": m.body}
        )
    if channel in ("SMS", "VOICE") and config.sms_message is not None:
        sms = config.sms_message
        return tm.SMSTemplate.model_validate(
            {"Body": sms.body or "", "MessageType": sms.message_type or "PROMOTIONAL"}
        )
    push = config.default_message or config.apns_message or config.gcm_message
    if channel == "PUSH" and push is not None:
        return tm.PushTemplate.model_validate(
            {"Title": push.title, "Body": push.body, "Action": push.action or "OPEN_APP",
             "Url": push.url}
        )  # fmt: skip
    return None


# ---- direct messages ---------------------------------------------------------------------------
def direct_run(
    project: Project,
    targets: Sequence[str],
    *,
    channel: Channel,
    template: str,
    template_version: int | None = None,
    now: datetime | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Plan a direct message in a project (pinned template, suppression), save the plan and
    record the run (kind ``direct``); delivery sends it like any plan."""
    from engagekit.templates import load_template

    slot = _TEMPLATE_SLOT[channel]
    alias = TemplateConfiguration.model_fields[slot].alias if slot else "Template"
    try:
        load_template(project, template, template_version)
        version = project.store.get_definition("template", template, template_version).version
    except NotFoundError as exc:
        raise DefinitionError(str(exc), path=f"{alias}.Name", kind="direct message") from None
    plan = plan_direct(
        read_project_endpoints(project),
        targets,
        channel=channel,
        template=template,
        template_version=version,
        now=now if now is not None else pd.Timestamp.now(tz="UTC"),
        settings=project.settings,
        suppressed=read_suppressed(project),
    )
    save_plan(project, plan)
    record_run(project, plan, kind="direct")
    return plan


def plan_direct(
    endpoints: pd.DataFrame,
    targets: Sequence[str],
    *,
    channel: Channel,
    template: str,
    template_version: int | None = None,
    now: datetime | str | pd.Timestamp,
    settings: ProjectSettings | None = None,
    suppressed: Iterable[str] | pd.DataFrame | pd.Series | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Plan a message now to up to 15 endpoint ids or addresses, through :func:`plan_campaign`.

    An address that matches no endpoint gets an ad-hoc endpoint (``Id`` = the address).
    Opt-outs and suppression still apply.
    """
    targets = [str(t) for t in targets]
    if not 1 <= len(targets) <= MAX_DIRECT:
        raise DefinitionError(
            f"direct messages go to 1–{MAX_DIRECT} endpoint ids or addresses, got {len(targets)}",
            path="Targets",
            kind="direct message",
        )
    slot = _TEMPLATE_SLOT[channel]
    if slot is None:
        raise DefinitionError(f"channel {channel} has no templates", path="Channel")
    alias = TemplateConfiguration.model_fields[slot].alias
    now_ts = to_utc(now, "UTC")
    digest = uuid.uuid5(uuid.NAMESPACE_URL, "|".join(targets)).hex[:8]
    rid = run_id or f"direct-{now_ts:%Y%m%dT%H%M%S%fZ}-{digest}"
    campaign = Campaign.parse(
        {
            "Name": "direct",
            "SegmentId": "direct",
            "Channel": channel,
            "Treatments": [
                {"TemplateConfiguration": {alias: {"Name": template, "Version": template_version}}}
            ],
        }
    )
    ids = (
        endpoints["Id"].astype("string") if "Id" in endpoints.columns else pd.Series(dtype="string")
    )
    addrs = endpoints["Address"].astype("string") if "Address" in endpoints.columns else ids
    hit = (ids.isin(targets) | addrs.isin(targets)).to_numpy(dtype=bool, na_value=False)
    found = set(ids[hit].dropna()) | set(addrs[hit].dropna())
    missing = [t for t in targets if t not in found]
    frame = endpoints
    if missing:
        from engagekit.endpoints import normalize_endpoints

        extra = normalize_endpoints(
            pd.DataFrame(
                {
                    "Id": missing,
                    "ChannelType": [_CHANNEL_ENDPOINTS[channel][0]] * len(missing),
                    "Address": missing,
                    "EndpointStatus": ["ACTIVE"] * len(missing),
                    "OptOut": ["NONE"] * len(missing),
                }
            )
        )
        frame = pd.concat([endpoints, extra], ignore_index=True)
        hit = np.concatenate([hit, np.ones(len(missing), dtype=bool)])
    return plan_campaign(
        campaign, frame, now_ts, settings=settings, audience=hit, suppressed=suppressed,
        run_id=rid,
    )  # fmt: skip


__all__ = [
    "HOLDOUT",
    "PLAN_COLUMNS",
    "REASONS",
    "Campaign",
    "CampaignEmailMessage",
    "CampaignSmsMessage",
    "DryRun",
    "EventFilter",
    "Limits",
    "Message",
    "MessageConfiguration",
    "QuietTime",
    "Schedule",
    "TemplateConfiguration",
    "TemplateRef",
    "Treatment",
    "allocation_check",
    "campaign_version",
    "check_edit",
    "complete",
    "copy_campaign",
    "default_run_id",
    "delete",
    "direct_run",
    "dry_run_report",
    "edit_campaign",
    "inline_template",
    "launch",
    "list_campaigns",
    "load_campaign",
    "load_plan",
    "load_plans",
    "new_events",
    "pause",
    "pin_versions",
    "plan_campaign",
    "plan_counts",
    "plan_direct",
    "plan_run",
    "read_history",
    "read_suppressed",
    "reason_counts",
    "record_run",
    "resume",
    "run_history",
    "save_campaign",
    "save_plan",
    "set_state",
    "treatment_template",
]
