"""The ``sms`` channel: AWS End User Messaging SMS (``pinpoint-sms-voice-v2``) or SNS.

Settings::

    type = "sms"
    api = "end-user-messaging"           # or "sns" (Publish to a phone number)
    origination_identity = "+12065550100" # phone number, pool id, or sender id
    sender_id = "ACME"                   # used as origination identity where allowed
    message_type = "TRANSACTIONAL"       # or PROMOTIONAL
    configuration_set = "engagekit"
    max_price = "0.05"                   # per-part ceiling passed to AWS
    monthly_spend_limit = 1.0            # USD; AWS's default for new accounts
    prices = { US = 0.00581 }            # per-segment prices overriding the built-in table

Costs follow :data:`PRICES` (USD per message part, by destination country; approximate list
prices — override them with ``prices``) times the number of parts (GSM-7: 160 characters, or
153 per part when split; otherwise UCS-2: 70, or 67). ``deliver`` admits a batch only while the
month's spend stays within ``monthly_spend_limit``; the rest waits for the next month.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from engagekit.channels import Channel, Message, SendResult
from engagekit.channels._aws import ParallelSender, classify, make_client

#: Approximate USD per outbound SMS part by ISO country (override with ``prices``).
PRICES: dict[str, float] = {
    "US": 0.00581, "CA": 0.00575, "MX": 0.0433, "BR": 0.0543, "AR": 0.0634, "GB": 0.0365,
    "IE": 0.0785, "FR": 0.0706, "DE": 0.0878, "ES": 0.0755, "IT": 0.0836, "NL": 0.1017,
    "BE": 0.0933, "SE": 0.0608, "NO": 0.0611, "DK": 0.0511, "FI": 0.0852, "PL": 0.0388,
    "PT": 0.0371, "CH": 0.0581, "AT": 0.0920, "IN": 0.0022, "JP": 0.0694, "KR": 0.0240,
    "CN": 0.0369, "SG": 0.0380, "AU": 0.0397, "NZ": 0.1005, "ZA": 0.0240, "NG": 0.0887,
}  # fmt: skip
DEFAULT_PRICE = 0.05

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = set("^{}\\[~]|€")


def segments(body: str) -> int:
    """Message parts an SMS body needs (GSM-7 or UCS-2)."""
    if all(c in _GSM7 or c in _GSM7_EXT for c in body):
        units = len(body) + sum(c in _GSM7_EXT for c in body)
        return 1 if units <= 160 else -(-units // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def country_of(number: str) -> str | None:
    """ISO region of an E.164 number (``None`` when it cannot be parsed)."""
    import phonenumbers

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or None
    except phonenumbers.NumberParseException:
        return None


def sms_cost(number: str, body: str, settings: Mapping[str, Any]) -> tuple[str | None, float]:
    """(country, USD) of sending ``body`` to ``number``."""
    country = country_of(number)
    table = {**PRICES, **{k.upper(): float(v) for k, v in settings.get("prices", {}).items()}}
    price = table.get(country or "", float(settings.get("default_price", DEFAULT_PRICE)))
    return country, round(price * segments(body), 6)


class SMSChannel(Channel):
    """SMS through End User Messaging SendTextMessage, or SNS Publish (``api = "sns"``)."""

    kind: ClassVar = "sms"
    defaults: ClassVar[dict[str, Any]] = {
        "api": "end-user-messaging",
        "message_type": "TRANSACTIONAL",
        "monthly_spend_limit": 1.0,
        "connections": 4,
    }

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        self._client: Any = None
        self._sender = ParallelSender(self.connections)

    @property
    def client(self) -> Any:
        if self._client is None:
            service = "sns" if self.settings["api"] == "sns" else "pinpoint-sms-voice-v2"
            self._client = make_client(service, self.settings)
        return self._client

    def message_cost(self, message: Message) -> tuple[str | None, float]:
        return sms_cost(message.address, message.parts.get("Body", ""), self.settings)

    def request(self, m: Message) -> dict[str, Any]:
        """The SendTextMessage (or SNS Publish) request of one message."""
        s = self.settings
        body = m.parts.get("Body", "")
        if s["api"] == "sns":
            attrs = {
                "AWS.SNS.SMS.SMSType": {
                    "DataType": "String",
                    "StringValue": s["message_type"].title(),
                }
            }
            if s.get("sender_id"):
                attrs["AWS.SNS.SMS.SenderID"] = {
                    "DataType": "String",
                    "StringValue": s["sender_id"],
                }
            if s.get("max_price"):
                attrs["AWS.SNS.SMS.MaxPrice"] = {
                    "DataType": "Number",
                    "StringValue": str(s["max_price"]),
                }
            return {"PhoneNumber": m.address, "Message": body, "MessageAttributes": attrs}
        req: dict[str, Any] = {
            "DestinationPhoneNumber": m.address,
            "MessageBody": body,
            "MessageType": s["message_type"],
            "Context": {
                "campaign": m.campaign or "-",
                "treatment": m.treatment_id or "-",
                "endpoint": m.endpoint_id,
                "run": m.run_id,
                "key": m.idempotency_key,
            },
        }
        identity = s.get("sender_id") or s.get("origination_identity")
        if identity:
            req["OriginationIdentity"] = identity
        for key, field in (("configuration_set", "ConfigurationSetName"), ("max_price", "MaxPrice"),
                           ("keyword", "Keyword"), ("time_to_live", "TimeToLive")):  # fmt: skip
            if s.get(key):
                req[field] = s[key] if key != "max_price" else str(s[key])
        return req

    def _one(self, m: Message) -> SendResult:
        req = self.request(m)
        self._begin(m)
        try:
            if self.settings["api"] == "sns":
                resp = self.client.publish(**req)
            else:
                resp = self.client.send_text_message(**req)
        except Exception as exc:
            from botocore.exceptions import BotoCoreError, ClientError

            if not isinstance(exc, BotoCoreError | ClientError):
                raise
            return self._done(m, classify(exc, sent=True))
        return self._done(m, SendResult("sent", message_id=resp["MessageId"], outcome="buffered"))

    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        return self._sender.map(self._one, messages)

    def close(self) -> None:
        self._sender.close()
