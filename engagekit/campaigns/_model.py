"""The campaign declaration: Pinpoint's WriteCampaignRequest as frozen pydantic models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engagekit.errors import DefinitionError
from engagekit.experiments import Allocation, Arm
from engagekit.schedules import (
    Schedule,
    _PathError,
)

KIND: Final = "campaign"
MAX_TREATMENTS: Final = 5
HOLDOUT: Final = "holdout"
States = Literal["draft", "scheduled", "running", "paused", "completed", "deleted"]
Channel = Literal["EMAIL", "SMS", "PUSH", "VOICE", "IN_APP", "CUSTOM"]

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

    pinpoint.validate(shape_name, doc)


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
