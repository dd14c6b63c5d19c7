"""Template definitions: one pydantic model per Pinpoint template type, Pinpoint JSON in and out.

>>> from engagekit.templates import EmailTemplate
>>> t = EmailTemplate(Subject="Hi {{User.UserAttributes.FirstName}}", HtmlPart="<p>Hello</p>")
>>> t.parts()["Subject"]
'Hi {{User.UserAttributes.FirstName}}'
>>> EmailTemplate.from_pinpoint(t.to_pinpoint()) == t
True
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engagekit import pinpoint
from engagekit.errors import DefinitionError

TemplateType = Literal["EMAIL", "SMS", "PUSH", "VOICE", "INAPP", "CUSTOM"]
PushAction = Literal["OPEN_APP", "DEEP_LINK", "URL"]
MessageType = Literal["PROMOTIONAL", "TRANSACTIONAL"]

_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")
#: response-only fields of Pinpoint's Get*Template answers, ignored on import
_RESPONSE_ONLY = {
    "Arn",
    "CreationDate",
    "LastModifiedDate",
    "TemplateName",
    "TemplateType",
    "Version",
}


def check_sender_id(value: str) -> str:
    """A sender ID is 1–11 letters and digits, at least one letter, no spaces."""
    if not _SENDER_ID.match(value):
        raise ValueError(
            f"sender ID {value!r} must be 1-11 letters or digits with at least one letter and "
            "no spaces or punctuation (e.g. 'ACMESHOP')"
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Template(_Model):
    """Fields every template type shares (Pinpoint names via aliases)."""

    template_type: ClassVar[str] = ""
    request_shape: ClassVar[str] = ""
    html_parts: ClassVar[frozenset[str]] = frozenset()

    description: str | None = Field(None, alias="TemplateDescription")
    default_substitutions: dict[str, Any] | None = Field(None, alias="DefaultSubstitutions")
    recommender_id: str | None = Field(None, alias="RecommenderId")
    tags: dict[str, str] | None = Field(None, alias="tags")

    @field_validator("default_substitutions", mode="before")
    @classmethod
    def _json_defaults(cls, value: Any) -> Any:
        if isinstance(value, str):  # Pinpoint sends DefaultSubstitutions as a JSON string
            if not value.strip():
                return None
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"DefaultSubstitutions is not valid JSON: {exc}") from None
        if value is not None and not isinstance(value, dict):
            raise ValueError('DefaultSubstitutions must be a JSON object like {"Name": "there"}')
        return value

    # -- parts ---------------------------------------------------------------------------------
    def parts(self) -> dict[str, str]:
        """Part name -> Handlebars source, for the parts this template has."""
        raise NotImplementedError

    def is_html(self, part: str) -> bool:
        """Whether ``part`` is HTML (``{{x}}`` is escaped there, never elsewhere)."""
        return part in self.html_parts

    # -- Pinpoint JSON -------------------------------------------------------------------------
    def _common_pinpoint(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.description is not None:
            doc["TemplateDescription"] = self.description
        if self.default_substitutions is not None:
            doc["DefaultSubstitutions"] = json.dumps(self.default_substitutions)
        if self.recommender_id is not None:
            doc["RecommenderId"] = self.recommender_id
        if self.tags:
            doc["tags"] = dict(self.tags)
        return doc

    def to_pinpoint(self) -> dict[str, Any]:
        """This template as Pinpoint's ``<Type>TemplateRequest`` (checked against botocore)."""
        doc = self._common_pinpoint() | self._pinpoint_body()
        if self.request_shape:
            pinpoint.validate(self.request_shape, doc)
        return doc

    def _pinpoint_body(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_pinpoint(cls, doc: dict[str, Any] | str) -> Template:
        """Load Pinpoint's request or Get*Template response JSON (response-only fields ignored)."""
        data = json.loads(doc) if isinstance(doc, str) else dict(doc)
        data = {k: v for k, v in data.items() if k not in _RESPONSE_ONLY}
        if cls.request_shape:
            pinpoint.validate(cls.request_shape, data)
        try:
            return cls.model_validate(cls._from_pinpoint_body(data))
        except ValidationError as exc:
            raise _definition_error(exc, cls.__name__) from None

    @classmethod
    def _from_pinpoint_body(cls, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def to_json(self) -> dict[str, Any]:
        """engagekit's own JSON (a superset of Pinpoint's), with ``TemplateType``."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {"TemplateType": self.template_type, **body}


def _definition_error(exc: ValidationError, kind: str) -> DefinitionError:
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"])
    return DefinitionError(err["msg"], path=path or None, kind=kind)


class MessageHeader(_Model):
    name: str = Field(alias="Name", min_length=1)
    value: str = Field(alias="Value")


class EmailTemplate(Template):
    """Pinpoint's email template: Subject, HtmlPart, TextPart, Headers."""

    template_type: ClassVar[str] = "EMAIL"
    request_shape: ClassVar[str] = "EmailTemplateRequest"
    html_parts: ClassVar[frozenset[str]] = frozenset({"HtmlPart"})

    subject: str | None = Field(None, alias="Subject")
    html_part: str | None = Field(None, alias="HtmlPart")
    text_part: str | None = Field(None, alias="TextPart")
    headers: tuple[MessageHeader, ...] | None = Field(None, alias="Headers")

    def parts(self) -> dict[str, str]:
        out = {"Subject": self.subject or ""}
        if self.html_part is not None:
            out["HtmlPart"] = self.html_part
        if self.text_part is not None:
            out["TextPart"] = self.text_part
        for h in self.headers or ():
            out[f"Headers.{h.name}"] = h.value
        return out

    def _pinpoint_body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for key, value in (
            ("Subject", self.subject),
            ("HtmlPart", self.html_part),
            ("TextPart", self.text_part),
        ):
            if value is not None:
                doc[key] = value
        if self.headers:
            doc["Headers"] = [{"Name": h.name, "Value": h.value} for h in self.headers]
        return doc


class SMSTemplate(Template):
    """Pinpoint's SMS template, plus the message settings a campaign sends it with."""

    template_type: ClassVar[str] = "SMS"
    request_shape: ClassVar[str] = "SMSTemplateRequest"

    body: str = Field(alias="Body")
    message_type: MessageType = Field("PROMOTIONAL", alias="MessageType")
    sender_id: str | None = Field(None, alias="SenderId")
    origination_number: str | None = Field(None, alias="OriginationNumber")

    @field_validator("sender_id")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        return None if value is None else check_sender_id(value)

    @field_validator("origination_number")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^\+[1-9]\d{3,14}$", value):
            raise ValueError(f"origination number {value!r} must be E.164, e.g. '+12065550100'")
        return value

    def parts(self) -> dict[str, str]:
        return {"Body": self.body}

    def _pinpoint_body(self) -> dict[str, Any]:
        return {"Body": self.body}


class PushPlatform(_Model):
    """A per-platform override (Pinpoint's APNS / GCM / ADM / Baidu template blocks)."""

    action: PushAction | None = Field(None, alias="Action")
    body: str | None = Field(None, alias="Body")
    title: str | None = Field(None, alias="Title")
    url: str | None = Field(None, alias="Url")
    sound: str | None = Field(None, alias="Sound")
    raw_content: str | None = Field(None, alias="RawContent")
    image_url: str | None = Field(None, alias="ImageUrl")
    image_icon_url: str | None = Field(None, alias="ImageIconUrl")
    small_image_icon_url: str | None = Field(None, alias="SmallImageIconUrl")
    media_url: str | None = Field(None, alias="MediaUrl")


_ANDROID_ONLY = ("ImageUrl", "ImageIconUrl", "SmallImageIconUrl")


class PushTemplate(Template):
    """Pinpoint's push template: the Default message, with images and per-platform overrides.

    ``ImageUrl`` (and icons) go to Android's GCM block and ``MediaUrl`` to APNS on export;
    ``SilentPush``/``Data`` are engagekit's (Pinpoint sets them per message, not per template).
    """

    template_type: ClassVar[str] = "PUSH"
    request_shape: ClassVar[str] = "PushNotificationTemplateRequest"

    title: str | None = Field(None, alias="Title")
    body: str | None = Field(None, alias="Body")
    action: PushAction = Field("OPEN_APP", alias="Action")
    url: str | None = Field(None, alias="Url")
    sound: str | None = Field(None, alias="Sound")
    image_url: str | None = Field(None, alias="ImageUrl")
    image_icon_url: str | None = Field(None, alias="ImageIconUrl")
    small_image_icon_url: str | None = Field(None, alias="SmallImageIconUrl")
    media_url: str | None = Field(None, alias="MediaUrl")
    silent_push: bool = Field(False, alias="SilentPush")
    data: dict[str, str] | None = Field(None, alias="Data")
    apns: PushPlatform | None = Field(None, alias="APNS")
    gcm: PushPlatform | None = Field(None, alias="GCM")
    adm: PushPlatform | None = Field(None, alias="ADM")
    baidu: PushPlatform | None = Field(None, alias="Baidu")

    def parts(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in (
            ("Title", self.title),
            ("Body", self.body),
            ("Url", self.url),
            ("ImageUrl", self.image_url),
            ("MediaUrl", self.media_url),
        ):
            if value is not None:
                out[key] = value
        for key, value in (self.data or {}).items():
            out[f"Data.{key}"] = value
        return out

    def _pinpoint_body(self) -> dict[str, Any]:
        default: dict[str, Any] = {"Action": self.action}
        for key, value in (
            ("Body", self.body),
            ("Title", self.title),
            ("Url", self.url),
            ("Sound", self.sound),
        ):
            if value is not None:
                default[key] = value
        doc: dict[str, Any] = {"Default": default}
        android = {
            k: v
            for k, v in (
                ("ImageUrl", self.image_url),
                ("ImageIconUrl", self.image_icon_url),
                ("SmallImageIconUrl", self.small_image_icon_url),
            )
            if v
        }
        for key, block in (
            ("APNS", self.apns),
            ("GCM", self.gcm),
            ("ADM", self.adm),
            ("Baidu", self.baidu),
        ):
            body = block.model_dump(by_alias=True, exclude_none=True) if block else {}
            if key == "GCM":
                body = android | body
            if key == "APNS" and self.media_url:
                body = {"MediaUrl": self.media_url} | body
            if body:
                doc[key] = body
        return doc

    @classmethod
    def _from_pinpoint_body(cls, data: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in data.items() if k not in ("Default", "APNS", "GCM", "ADM", "Baidu")}
        out |= dict(data.get("Default") or {})
        gcm = dict(data.get("GCM") or {})
        for key in _ANDROID_ONLY:  # lift Android images to the template
            if key in gcm:
                out[key] = gcm.pop(key)
        apns = dict(data.get("APNS") or {})
        if "MediaUrl" in apns:
            out["MediaUrl"] = apns.pop("MediaUrl")
        for key, block in (
            ("APNS", apns),
            ("GCM", gcm),
            ("ADM", data.get("ADM")),
            ("Baidu", data.get("Baidu")),
        ):
            if block:
                out[key] = block
        return out


class VoiceTemplate(Template):
    """Pinpoint's voice template: a spoken Body, language and voice."""

    template_type: ClassVar[str] = "VOICE"
    request_shape: ClassVar[str] = "VoiceTemplateRequest"

    body: str = Field(alias="Body")
    language_code: str | None = Field(None, alias="LanguageCode")
    voice_id: str | None = Field(None, alias="VoiceId")

    def parts(self) -> dict[str, str]:
        return {"Body": self.body}

    def _pinpoint_body(self) -> dict[str, Any]:
        doc = {"Body": self.body}
        if self.language_code:
            doc["LanguageCode"] = self.language_code
        if self.voice_id:
            doc["VoiceId"] = self.voice_id
        return doc


InAppLayout = Literal[
    "BOTTOM_BANNER", "TOP_BANNER", "OVERLAYS", "MOBILE_FEED", "MIDDLE_BANNER", "CAROUSEL"
]


class InAppTemplate(Template):
    """Pinpoint's in-app template: content blocks (header, body, buttons), layout, config."""

    template_type: ClassVar[str] = "INAPP"
    request_shape: ClassVar[str] = "InAppTemplateRequest"

    content: tuple[dict[str, Any], ...] = Field((), alias="Content")
    layout: InAppLayout | None = Field(None, alias="Layout")
    custom_config: dict[str, str] | None = Field(None, alias="CustomConfig")

    @field_validator("content")
    @classmethod
    def _content(cls, value: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        problems = pinpoint.problems("InAppTemplateRequest", {"Content": list(value)})
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def parts(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for i, block in enumerate(self.content):
            header = (block.get("HeaderConfig") or {}).get("Header")
            body = (block.get("BodyConfig") or {}).get("Body")
            if header is not None:
                out[f"Content.{i}.Header"] = header
            if body is not None:
                out[f"Content.{i}.Body"] = body
            for btn in ("PrimaryBtn", "SecondaryBtn"):
                text = ((block.get(btn) or {}).get("DefaultConfig") or {}).get("Text")
                if text is not None:
                    out[f"Content.{i}.{btn}"] = text
        return out

    def _pinpoint_body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"Content": [dict(c) for c in self.content]}
        if self.layout:
            doc["Layout"] = self.layout
        if self.custom_config:
            doc["CustomConfig"] = dict(self.custom_config)
        return doc

    def _common_pinpoint(self) -> dict[str, Any]:
        doc = super()._common_pinpoint()
        doc.pop("DefaultSubstitutions", None)  # InAppTemplateRequest has none
        doc.pop("RecommenderId", None)
        return doc


class CustomTemplate(Template):
    """A JSON payload for a custom channel (webhook); Pinpoint has no custom template type."""

    template_type: ClassVar[str] = "CUSTOM"

    payload: str = Field(alias="Payload")

    @field_validator("payload", mode="before")
    @classmethod
    def _payload(cls, value: Any) -> Any:
        return json.dumps(value) if isinstance(value, (dict, list)) else value

    def parts(self) -> dict[str, str]:
        return {"Payload": self.payload}

    def to_pinpoint(self) -> dict[str, Any]:
        raise DefinitionError(
            "Pinpoint has no custom template type; use to_json()", kind="CustomTemplate"
        )


TEMPLATE_TYPES: dict[str, type[Template]] = {
    "EMAIL": EmailTemplate,
    "SMS": SMSTemplate,
    "PUSH": PushTemplate,
    "VOICE": VoiceTemplate,
    "INAPP": InAppTemplate,
    "CUSTOM": CustomTemplate,
}


def template_from_json(doc: dict[str, Any] | str) -> Template:
    """Load engagekit's JSON (``to_json``) or a Pinpoint response that carries ``TemplateType``."""
    data = json.loads(doc) if isinstance(doc, str) else dict(doc)
    kind = data.pop("TemplateType", None)
    if kind not in TEMPLATE_TYPES:
        raise DefinitionError(
            f"TemplateType must be one of {', '.join(TEMPLATE_TYPES)}, got {kind!r}",
            path="TemplateType",
        )
    cls = TEMPLATE_TYPES[kind]
    try:
        return cls.model_validate(data)
    except ValidationError:
        return cls.from_pinpoint(data)


_RESPONSE_WRAPPERS = (
    "EmailTemplateResponse",
    "SMSTemplateResponse",
    "PushNotificationTemplateResponse",
    "VoiceTemplateResponse",
    "InAppTemplateResponse",
)


def template_from_pinpoint(doc: dict[str, Any] | str, template_type: str | None = None) -> Template:
    """Load a Pinpoint template (request or Get*Template response); the type comes from
    ``TemplateType`` in the document or the ``template_type`` argument."""
    data = json.loads(doc) if isinstance(doc, str) else dict(doc)
    for wrapper in (
        "EmailTemplateResponse",
        "SMSTemplateResponse",
        "PushNotificationTemplateResponse",
        "VoiceTemplateResponse",
        "InAppTemplateResponse",
    ):
        if wrapper in data:
            data = data[wrapper]
    kind = template_type or data.get("TemplateType")
    if kind not in TEMPLATE_TYPES or kind == "CUSTOM":
        raise DefinitionError(
            "pass template_type= (EMAIL, SMS, PUSH, VOICE or INAPP): the document has no "
            "TemplateType",
            path="TemplateType",
        )
    return TEMPLATE_TYPES[kind].from_pinpoint(data)
