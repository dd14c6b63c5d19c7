"""Channel limits checked on rendered messages: SMS encoding and segments, push sizes, subjects.

>>> sms_segments("Hello")
SmsInfo(encoding='GSM-7', units=5, segments=1)
>>> sms_segments("Olá 👋").encoding
'UCS-2'
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from engagekit.errors import TemplateError

# GSM 03.38 basic character set, and the extension table (each costs two septets)
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class ChannelLimits:
    """Limits applied at render time; change them per project or carrier if yours differ."""

    sms_max_segments: int = 10  # AWS End User Messaging: 1,600 GSM-7 / 630 UCS-2 characters
    push_title_max: int = 200
    push_body_max: int = 200  # Pinpoint's push Message.Body limit
    push_payload_max_bytes: int = 4096  # APNs and FCM payload size
    email_subject_max: int = 998  # RFC 5322 line length
    voice_body_max: int = 3000  # Amazon Polly SSML/text characters per request


DEFAULT_LIMITS = ChannelLimits()


@dataclass(frozen=True)
class SmsInfo:
    """How a text travels as SMS: encoding, length in septets/UTF-16 units, segments."""

    encoding: str
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def sms_segments(text: str) -> SmsInfo:
    """Encoding and segment count: GSM-7 160/153 septets, else UCS-2 70/67 UTF-16 units.

    Segments are packed as phones do: an escape pair or a surrogate pair never splits.
    """
    if is_gsm7(text):
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi, encoding = 70, 67, "UCS-2"
    units = sum(costs)
    if units <= single:
        return SmsInfo(encoding, units, 1 if units else 0)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return SmsInfo(encoding, units, segments)


def check_part(
    channel: str,
    part: str,
    text: str,
    *,
    limits: ChannelLimits = DEFAULT_LIMITS,
    template: str | None = None,
    endpoint_id: str | None = None,
) -> None:
    """Raise :class:`TemplateError` naming endpoint and part when ``text`` breaks a limit."""

    def fail(msg: str) -> None:
        raise TemplateError(msg, template=template, part=part, endpoint_id=endpoint_id)

    if channel == "EMAIL" and part == "Subject":
        if not text.strip():
            fail(
                "the email subject is empty: every email needs a Subject (set one, or a "
                "DefaultSubstitutions value for the variables it uses)"
            )
        if "\n" in text or "\r" in text:
            fail("the email subject contains a line break")
        if len(text) > limits.email_subject_max:
            fail(
                f"the email subject has {len(text)} characters; the limit is "
                f"{limits.email_subject_max}"
            )
    elif channel == "SMS" and part == "Body":
        if not text.strip():
            fail("the SMS body is empty")
        info = sms_segments(text)
        if info.segments > limits.sms_max_segments:
            fail(
                f"the SMS is {info.units} {info.encoding} characters = {info.segments} "
                f"segments; the limit is {limits.sms_max_segments} segments (shorten it, or "
                "avoid characters outside GSM-7 such as emoji, which switch to UCS-2)"
            )
    elif channel == "PUSH":
        if part == "Title" and len(text) > limits.push_title_max:
            fail(f"the push title has {len(text)} characters; the limit is {limits.push_title_max}")
        if part == "Body" and len(text) > limits.push_body_max:
            fail(f"the push body has {len(text)} characters; the limit is {limits.push_body_max}")
    elif channel == "VOICE" and part == "Body" and len(text) > limits.voice_body_max:
        fail(f"the voice message has {len(text)} characters; the limit is {limits.voice_body_max}")
    elif channel == "CUSTOM" and part == "Payload":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            if text.lstrip().startswith(("{", "[")):
                fail(
                    f"the rendered payload is not valid JSON: {exc} (use {{{{{{x}}}}}} "
                    "only for values you escape yourself)"
                )


def check_message(
    channel: str,
    parts: dict[str, str],
    *,
    limits: ChannelLimits = DEFAULT_LIMITS,
    template: str | None = None,
    endpoint_id: str | None = None,
) -> None:
    """Check every part, then message-wide limits (push payload size)."""
    for part, text in parts.items():
        check_part(channel, part, text, limits=limits, template=template, endpoint_id=endpoint_id)
    if channel == "PUSH":
        size = len(json.dumps(parts, ensure_ascii=False).encode("utf-8"))
        if size > limits.push_payload_max_bytes:
            raise TemplateError(
                f"the push payload is {size} bytes; APNs and FCM accept at most "
                f"{limits.push_payload_max_bytes}",
                template=template,
                endpoint_id=endpoint_id,
            )
