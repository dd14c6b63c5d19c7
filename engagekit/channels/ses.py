"""The ``ses`` channel: Amazon SES v2 ``SendEmail`` through boto3.

Settings::

    type = "ses"
    from_address = "Acme <news@acme.test>"
    configuration_set = "engagekit"      # event destinations (bounces, complaints) live there
    region = "eu-west-1"                 # else boto3's chain (AWS_REGION, profile, ...)
    connections = 8                      # parallel requests
    sandbox = false                      # or account_quota = true: read SES's own quota
    account_quota = true                 # max_send_rate / max_24_hour_send from GetAccount

Each message carries the tags ``campaign``, ``treatment`` and ``endpoint`` (EmailTags) and the
headers ``X-Engagekit-Key`` (the ledger row's idempotency key) and, when configured,
``List-Unsubscribe`` / ``List-Unsubscribe-Post``. SES has no idempotency token: a request whose
answer was lost is *in doubt* (see :mod:`engagekit.delivery`). Acceptance writes ``_email.send``;
deliveries, bounces and complaints arrive later through the configuration set's event destination.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from engagekit.channels import Channel, Message, SendResult
from engagekit.channels._aws import ParallelSender, classify, make_client
from engagekit.errors import ChannelError

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def tag_value(value: str) -> str:
    """SES tag values allow ``[A-Za-z0-9_.@-]`` up to 256 characters."""
    return (_TAG_UNSAFE.sub("_", value) or "_")[:256]


class SESChannel(Channel):
    """Amazon SES v2 (see the module docstring)."""

    defaults: ClassVar[dict[str, Any]] = {"connections": 4, "account_quota": False}

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        if not self.settings.get("from_address"):
            raise ChannelError(
                'the ses channel needs from_address = "Name <verified@domain>"', channel=name
            )
        self._client: Any = None
        self._sender = ParallelSender(self.connections)
        self._account: dict[str, Any] | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client("sesv2", self.settings)
        return self._client

    def _account_quota(self) -> dict[str, Any]:
        if self._account is None:
            from botocore.exceptions import ClientError

            try:
                acct = self.client.get_account()
                self._account = {
                    "sandbox": not acct.get("ProductionAccessEnabled", False),
                    **acct.get("SendQuota", {}),
                }
            except ClientError:  # endpoints without v2 GetAccount: SES v1 GetSendQuota
                quota = make_client("ses", self.settings).get_send_quota()
                self._account = {
                    "sandbox": bool(self.settings.get("sandbox", True)),
                    "Max24HourSend": quota.get("Max24HourSend"),
                    "MaxSendRate": quota.get("MaxSendRate"),
                }
        return self._account

    @property
    def sandbox(self) -> bool:
        if self.settings.get("account_quota"):
            return bool(self._account_quota()["sandbox"])
        return super().sandbox

    @property
    def max_send_rate(self) -> float:
        if self.settings.get("account_quota"):
            return float(self._account_quota().get("MaxSendRate") or 0)
        return super().max_send_rate

    @property
    def max_24_hour_send(self) -> int:
        if self.settings.get("account_quota"):
            return int(self._account_quota().get("Max24HourSend") or 0)
        return super().max_24_hour_send

    def request(self, m: Message) -> dict[str, Any]:
        """The SendEmail request of one message."""
        body: dict[str, Any] = {}
        if m.parts.get("TextPart"):
            body["Text"] = {"Data": m.parts["TextPart"], "Charset": "UTF-8"}
        if m.parts.get("HtmlPart"):
            body["Html"] = {"Data": m.parts["HtmlPart"], "Charset": "UTF-8"}
        headers = [{"Name": "X-Engagekit-Key", "Value": m.idempotency_key}]
        token = m.unsubscribe.get("token", "")
        if self.settings.get("unsubscribe_url"):
            url = self.settings["unsubscribe_url"].format(token=token)
            headers += [
                {"Name": "List-Unsubscribe", "Value": f"<{url}>"},
                {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
            ]
        req: dict[str, Any] = {
            "FromEmailAddress": self.settings["from_address"],
            "Destination": {"ToAddresses": [m.address]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": m.parts.get("Subject", ""), "Charset": "UTF-8"},
                    "Body": body,
                    "Headers": headers,
                }
            },
            "EmailTags": [
                {"Name": "campaign", "Value": tag_value(m.campaign)},
                {"Name": "treatment", "Value": tag_value(m.treatment_id)},
                {"Name": "endpoint", "Value": tag_value(m.endpoint_id)},
                {"Name": "run", "Value": tag_value(m.run_id)},
            ],
        }
        if self.settings.get("configuration_set"):
            req["ConfigurationSetName"] = self.settings["configuration_set"]
        if self.settings.get("reply_to"):
            req["ReplyToAddresses"] = [self.settings["reply_to"]]
        return req

    def _one(self, m: Message) -> SendResult:
        req = self.request(m)
        self._begin(m)
        try:
            resp = self.client.send_email(**req)
        except Exception as exc:
            from botocore.exceptions import BotoCoreError, ClientError

            if not isinstance(exc, BotoCoreError | ClientError):
                raise
            return self._done(m, classify(exc, sent=True))
        return self._done(m, SendResult("sent", message_id=resp["MessageId"], outcome="accepted"))

    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        return self._sender.map(self._one, messages)

    def close(self) -> None:
        self._sender.close()
