"""The ``webhook`` channel: Pinpoint's custom channel — POST JSON batches to your URL, signed.

Settings::

    type = "webhook"
    url = "https://hooks.acme.test/engagekit"
    batch_size = 50                       # endpoints per request (Pinpoint sends up to 50)
    secret_env = "ENGAGEKIT_WEBHOOK_SECRET"

Body (Pinpoint's custom-channel shape, plus the message parts)::

    {"RunId": ..., "CampaignId": ..., "TreatmentId": ..., "Step": "send",
     "Endpoints": {"<endpoint id>": {"Address": ..., "ChannelType": ..., "UserId": ...,
                                     "Message": {"Body": ...}, "IdempotencyKey": ...}}}

Headers: ``X-Engagekit-Timestamp`` (Unix seconds) and ``X-Engagekit-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>`` — verify both and reject old
timestamps. ``Idempotency-Key`` names the batch; every endpoint carries its own key, which
receivers use to drop a repeated delivery (the channel counts as idempotent). A 2xx answer
accepts the batch; a JSON answer ``{"Results": {"<endpoint id>": {"Status": "FAILED",
"Error": "..."}}}`` can fail single endpoints. 429/5xx are retried; other 4xx are final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from engagekit.channels import Channel, Message, SendResult
from engagekit.errors import ChannelError


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for a request body."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *, max_age: float = 300):
    """Check a request's signature and age (for receivers); returns True or raises."""
    if abs(time.time() - float(timestamp)) > max_age:
        raise ChannelError("webhook timestamp is too old (replay?)")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise ChannelError("webhook signature does not match")
    return True


class WebhookChannel(Channel):
    """POSTs signed JSON batches (see the module docstring)."""

    kind: ClassVar = "custom"
    idempotent: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {
        "batch_size": 50,
        "secret_env": "ENGAGEKIT_WEBHOOK_SECRET",
        "timeout": 10.0,
    }

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        if not self.settings.get("url"):
            raise ChannelError("the webhook channel needs a url setting", channel=name)
        self._session: Any = None

    def accepts(self, channel_type: str) -> bool:
        return True

    def body(self, messages: Sequence[Message]) -> bytes:
        first = messages[0]
        payload = {
            "RunId": first.run_id,
            "CampaignId": first.campaign,
            "TreatmentId": first.treatment_id,
            "Step": first.step,
            "Endpoints": {
                m.endpoint_id: {
                    "Address": m.address,
                    "ChannelType": m.channel_type,
                    "UserId": m.user_id,
                    "Message": m.parts,
                    "IdempotencyKey": m.idempotency_key,
                }
                for m in messages
            },
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()

    def headers(self, body: bytes, messages: Sequence[Message]) -> dict[str, str]:
        ts = str(int(time.time()))
        key = hashlib.blake2b(
            "".join(m.idempotency_key for m in messages).encode(), digest_size=16
        ).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Engagekit-Timestamp": ts,
            "Idempotency-Key": key,
        }
        secret = os.environ.get(self.settings["secret_env"])
        if secret:
            headers["X-Engagekit-Signature"] = sign(secret.encode(), ts, body)
        return headers

    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        out: list[SendResult] = []
        size = max(1, int(self.settings["batch_size"]))
        for start in range(0, len(messages), size):
            out += self._post(messages[start : start + size])
        return out

    def _post(self, group: Sequence[Message]) -> list[SendResult]:
        import requests

        if self._session is None:
            self._session = requests.Session()
        body = self.body(group)
        for m in group:
            self._begin(m)
        try:
            resp = self._session.post(
                self.settings["url"], data=body, headers=self.headers(body, group),
                timeout=float(self.settings["timeout"]),
            )  # fmt: skip
        except requests.ConnectionError as exc:
            sent = not isinstance(
                exc, requests.exceptions.ConnectTimeout
            ) and "Connection refused" not in str(exc)
            res = SendResult("in_doubt" if sent else "retry", error_code="CONNECTION_DROPPED",
                             error=str(exc))  # fmt: skip
            return [self._done(m, res) for m in group]
        except requests.Timeout as exc:
            res = SendResult("in_doubt", error_code="TIMEOUT", error=str(exc))
            return [self._done(m, res) for m in group]
        if resp.status_code == 429 or resp.status_code >= 500:
            res = SendResult("retry", error_code=f"HTTP_{resp.status_code}", error=resp.text[:200])
            return [self._done(m, res) for m in group]
        if resp.status_code >= 400:
            res = SendResult("failed", outcome="failure", error_code=f"HTTP_{resp.status_code}",
                             error=resp.text[:200])  # fmt: skip
            return [self._done(m, res) for m in group]
        try:
            results = (resp.json() or {}).get("Results", {}) if resp.content else {}
        except ValueError:
            results = {}
        out = []
        for m in group:
            r = results.get(m.endpoint_id, {}) if isinstance(results, dict) else {}
            if str(r.get("Status", "OK")).upper() in ("FAILED", "FAILURE", "ERROR"):
                res = SendResult("failed", outcome="failure", error_code="REJECTED",
                                 error=str(r.get("Error", "")))  # fmt: skip
            else:
                res = SendResult("sent", message_id=r.get("MessageId") or m.idempotency_key,
                                 outcome="delivered")  # fmt: skip
            out.append(self._done(m, res))
        return out

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
