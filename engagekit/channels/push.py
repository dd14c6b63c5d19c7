"""The ``push`` channel: FCM HTTP v1 (``GCM`` endpoints) and APNs (``APNS*`` endpoints).

Settings::

    type = "push"
    fcm_url = "https://fcm.googleapis.com"      # the provider URL (a local server in tests)
    fcm_project_id = "acme-app"
    apns_url = "https://api.push.apple.com"     # api.sandbox.push.apple.com for APNS_SANDBOX
    apns_topic = "com.acme.app"                 # the app's bundle id
    connections = 8

Credentials come from the environment: ``ENGAGEKIT_FCM_TOKEN`` (an OAuth 2 access token for
FCM) and ``ENGAGEKIT_APNS_TOKEN`` (a provider JWT for APNs); the variable names can be changed
with ``fcm_token_env`` / ``apns_token_env``. APNs requires HTTP/2: when the ``h2`` package is
installed requests go through httpx with HTTP/2, otherwise HTTP/1.1 (fine for gateways and tests).

Each APNs request carries ``apns-id`` and ``apns-collapse-id`` derived from the ledger row, so a
resend of an in-doubt message replaces the first copy on the device instead of adding one; FCM
messages carry the same key as ``collapse_key`` / ``apns-collapse-id`` and in ``data``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from engagekit.channels import Channel, Message, SendResult
from engagekit.channels._aws import ParallelSender

_APNS_TYPES = {"APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX"}
_RETRY_STATUS = {429, 500, 502, 503, 504}


class PushChannel(Channel):
    """Mobile push through FCM HTTP v1 and APNs (see the module docstring)."""

    kind: ClassVar = "push"
    defaults: ClassVar[dict[str, Any]] = {
        "fcm_url": "https://fcm.googleapis.com",
        "apns_url": "https://api.push.apple.com",
        "fcm_token_env": "ENGAGEKIT_FCM_TOKEN",
        "apns_token_env": "ENGAGEKIT_APNS_TOKEN",
        "connections": 4,
        "timeout": 10.0,
    }

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        self._local = threading.local()
        self._sender = ParallelSender(self.connections)

    # -- request building ----------------------------------------------------------------------
    def fcm_request(self, m: Message) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(url, headers, JSON body) of an FCM HTTP v1 ``messages:send`` call."""
        s = self.settings
        url = f"{s['fcm_url'].rstrip('/')}/v1/projects/{s.get('fcm_project_id', '-')}/messages:send"
        data = {k[5:]: v for k, v in m.parts.items() if k.startswith("Data.")}
        data |= {"engagekit_key": m.idempotency_key, "campaign": m.campaign, "run": m.run_id}
        message: dict[str, Any] = {
            "token": m.address,
            "notification": {"title": m.parts.get("Title", ""), "body": m.parts.get("Body", "")},
            "data": data,
            "android": {"collapse_key": m.idempotency_key, "priority": "high"},
            "apns": {"headers": {"apns-collapse-id": m.idempotency_key[:64]}},
        }
        if m.parts.get("ImageUrl"):
            message["notification"]["image"] = m.parts["ImageUrl"]
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        token = os.environ.get(s["fcm_token_env"])
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return url, headers, {"message": message}

    def apns_request(self, m: Message) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(url, headers, JSON body) of an APNs ``/3/device/<token>`` call."""
        s = self.settings
        base = s.get("apns_sandbox_url") if m.channel_type.endswith("SANDBOX") else None
        url = f"{(base or s['apns_url']).rstrip('/')}/3/device/{m.address}"
        voip = "VOIP" in m.channel_type
        headers = {
            "apns-push-type": "voip" if voip else "alert",
            "apns-priority": "10",
            "apns-id": str(uuid.UUID(m.idempotency_key[:32].ljust(32, "0"))),
            "apns-collapse-id": m.idempotency_key[:64],
            "content-type": "application/json",
        }
        if s.get("apns_topic"):
            headers["apns-topic"] = s["apns_topic"] + (".voip" if voip else "")
        token = os.environ.get(s["apns_token_env"])
        if token:
            headers["authorization"] = f"bearer {token}"
        alert = {"title": m.parts.get("Title", ""), "body": m.parts.get("Body", "")}
        body: dict[str, Any] = {"aps": {"alert": alert, "sound": "default"}}
        body |= {k[5:]: v for k, v in m.parts.items() if k.startswith("Data.")}
        body["engagekit_key"] = m.idempotency_key
        return url, headers, body

    # -- sending -------------------------------------------------------------------------------
    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            import httpx

            try:
                import h2  # noqa: F401

                http2 = True
            except ImportError:
                http2 = False
            client = httpx.Client(http2=http2, timeout=float(self.settings["timeout"]))
            self._local.client = client
            self._clients = [*getattr(self, "_clients", []), client]
        return client

    def _one(self, m: Message) -> SendResult:
        import httpx

        apns = m.channel_type in _APNS_TYPES
        url, headers, body = self.apns_request(m) if apns else self.fcm_request(m)
        self._begin(m)
        try:
            resp = self._client().post(url, headers=headers, content=json.dumps(body).encode())
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return self._done(
                m, SendResult("retry", error_code="CONNECTION_FAILED", error=str(exc))
            )
        except httpx.HTTPError as exc:
            return self._done(m, SendResult("in_doubt", error_code="TIMEOUT", error=str(exc)))
        return self._done(m, _answer(resp, apns, headers))

    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        return self._sender.map(self._one, messages)

    def close(self) -> None:
        self._sender.close()
        for client in getattr(self, "_clients", []):
            client.close()
        self._clients = []
        self._local = threading.local()


def _answer(resp: Any, apns: bool, headers: dict[str, str]) -> SendResult:
    status = resp.status_code
    if 200 <= status < 300:
        if apns:
            mid = resp.headers.get("apns-id") or headers["apns-id"]
        else:
            mid = (resp.json() or {}).get("name") if resp.content else None
        return SendResult("sent", message_id=mid, outcome="delivered")
    try:
        payload = resp.json()
    except ValueError:
        payload = {}
    if apns:
        reason = str(payload.get("reason") or status)
    else:
        err = payload.get("error", {}) if isinstance(payload, dict) else {}
        details = err.get("details") or [{}]
        reason = str(details[0].get("errorCode") or err.get("status") or status)
    code = _snake(reason)
    retry_after = resp.headers.get("retry-after")
    if status in _RETRY_STATUS:
        return SendResult(
            "retry", error_code=code, error=f"{status} {reason}",
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )  # fmt: skip
    return SendResult("failed", outcome="failure", error_code=code, error=f"{status} {reason}")


def _snake(reason: str) -> str:
    out = []
    for i, ch in enumerate(reason):
        if ch.isupper() and i and reason[i - 1].islower():
            out.append("_")
        out.append(ch.upper())
    return "".join(out)
