"""SMS (End User Messaging, through boto3's real serialization), FCM, APNs and webhook channels
against a local HTTP server on 127.0.0.1 standing in for the provider."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
import pytest

from engagekit.channels import Message, idempotency_key
from engagekit.channels.push import PushChannel
from engagekit.channels.sms import SMSChannel, segments, sms_cost
from engagekit.channels.webhook import WebhookChannel, verify
from engagekit.delivery import deliver, ledger
from engagekit.errors import ChannelError
from engagekit.project import Project

Responder = Callable[["Request"], tuple[int, dict[str, str], bytes]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Provider:
    """A local HTTP server recording requests; ``respond`` decides each answer."""

    respond: Responder
    requests: list[Request] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def provider() -> Iterator[Provider]:
    state = Provider(respond=lambda req: (200, {}, b"{}"))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            req = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with lock:
                state.requests.append(req)
            status, headers, payload = state.respond(req)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def sms_plan(numbers: list[str], channel_type: str = "SMS") -> pd.DataFrame:
    n = len(numbers)
    return pd.DataFrame(
        {
            "run_id": "r1",
            "campaign": "promo",
            "treatment_id": "0",
            "holdout": False,
            "endpoint_id": [f"ep-{i}" for i in range(n)],
            "user_id": [f"u-{i}" for i in range(n)],
            "channel_type": channel_type,
            "address": numbers,
            "template": "t",
            "template_version": 1,
            "status": "scheduled",
            "step": "send",
        }
    )


def body_render(batch: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"Title": "Sale", "Body": "Hi " + batch["user_id"] + ", 20% off today. Reply STOP to stop"},
        index=batch.index,
    )


def json_answer(status: int, payload: dict) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(payload).encode()


# -- SMS: End User Messaging through boto3 ----------------------------------------------------
def test_sms_requests_use_boto3_serialization_and_retry_throttling(
    project: Project, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    throttled: set[str] = set()

    def respond(req: Request) -> tuple[int, dict[str, str], bytes]:
        number = req.json()["DestinationPhoneNumber"]
        if number.endswith("9999") and number not in throttled:
            throttled.add(number)
            return json_answer(400, {"__type": "ThrottlingException", "message": "slow down"})
        if number.endswith("0000"):
            return json_answer(400, {"__type": "ValidationException", "message": "bad number"})
        return json_answer(200, {"MessageId": f"msg-{number}"})

    provider.respond = respond
    project.update_settings(
        channels={
            "sms": {
                "type": "sms", "endpoint_url": provider.url, "region": "us-east-1",
                "origination_identity": "+12065550100", "configuration_set": "cs",
                "message_type": "PROMOTIONAL", "max_price": "0.05", "monthly_spend_limit": 0,
            }
        }
    )  # fmt: skip
    plan = sms_plan(["+14155550101", "+14155559999", "+14155550000"])
    report = deliver(project, plan, render=body_render, progress=False, retry_base=0.001)
    assert (report.sent, report.failed, report.retries) == (2, 1, 1)
    first = next(
        r for r in provider.requests if r.json()["DestinationPhoneNumber"].endswith("0101")
    )
    assert first.headers["x-amz-target"] == "PinpointSMSVoiceV2.SendTextMessage"
    assert "AWS4-HMAC-SHA256" in first.headers["authorization"]
    sent = first.json()
    assert sent["OriginationIdentity"] == "+12065550100"
    assert sent["MessageType"] == "PROMOTIONAL" and sent["ConfigurationSetName"] == "cs"
    assert sent["Context"]["campaign"] == "promo" and sent["Context"]["endpoint"] == "ep-0"
    rows = ledger(project).set_index("address")
    assert rows.loc["+14155550101", "message_id"] == "msg-+14155550101"
    assert rows.loc["+14155550000", "error_code"] == "VALIDATION_EXCEPTION"
    assert rows.loc["+14155550101", "country"] == "US"
    assert rows.loc["+14155550101", "cost"] == pytest.approx(0.00581)

    from engagekit.events import read_events

    types = set(read_events(project)["event_type"])
    assert {"_SMS.BUFFERED", "_SMS.FAILURE"} <= types
    assert "_SMS.SUCCESS" not in types  # acceptance is not a delivery receipt


def test_sms_monthly_spend_limit_is_never_exceeded(
    project: Project, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    provider.respond = lambda req: json_answer(200, {"MessageId": "m"})
    project.update_settings(
        channels={
            "sms": {
                "type": "sms", "endpoint_url": provider.url, "region": "us-east-1",
                "monthly_spend_limit": 0.30, "prices": {"DE": 0.1},
            }
        }
    )  # fmt: skip
    numbers = [f"+4915112345{i:03d}" for i in range(5)]  # German mobiles: 0.10 each
    report = deliver(project, sms_plan(numbers), render=body_render, progress=False)
    assert (report.sent, report.deferred) == (3, 2)
    assert report.deferred_reasons["SPEND_LIMIT"] == 2
    assert ledger(project)["cost"].sum() == pytest.approx(0.30)
    assert len(provider.requests) == 3


def test_sms_cost_counts_parts_by_encoding() -> None:
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("é" * 10) == 1  # é is in GSM-7
    assert segments("✓" * 70) == 1 and segments("✓" * 71) == 2
    assert sms_cost("+14155550101", "hello", {}) == ("US", pytest.approx(0.00581))
    assert sms_cost("+14155550101", "x" * 200, {"prices": {"us": 0.01}})[1] == pytest.approx(0.02)


def test_sns_request_shape_for_the_alternative_api() -> None:
    ch = SMSChannel("sms", {"api": "sns", "sender_id": "ACME", "max_price": 0.5})
    req = ch.request(Message.example("+14155550101", Body="hi"))
    assert req["PhoneNumber"] == "+14155550101" and req["Message"] == "hi"
    assert req["MessageAttributes"]["AWS.SNS.SMS.SenderID"]["StringValue"] == "ACME"
    assert req["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"


# -- push: FCM HTTP v1 and APNs ---------------------------------------------------------------
def test_fcm_and_apns_requests_reach_the_provider(
    project: Project, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGEKIT_FCM_TOKEN", "fcm-token")
    monkeypatch.setenv("ENGAGEKIT_APNS_TOKEN", "apns-jwt")

    def respond(req: Request) -> tuple[int, dict[str, str], bytes]:
        if req.path.startswith("/3/device/"):
            token = req.path.rsplit("/", 1)[1]
            if token == "gone":
                return 410, {}, b'{"reason":"Unregistered"}'
            return 200, {"apns-id": req.headers["apns-id"]}, b""
        token = req.json()["message"]["token"]
        if token == "bad":
            err = {"error": {"code": 404, "status": "NOT_FOUND",
                             "details": [{"errorCode": "UNREGISTERED"}]}}  # fmt: skip
            return 404, {}, json.dumps(err).encode()
        return 200, {}, json.dumps({"name": f"projects/acme/messages/{token}"}).encode()

    provider.respond = respond
    project.update_settings(
        channels={
            "push": {
                "type": "push", "fcm_url": provider.url, "apns_url": provider.url,
                "fcm_project_id": "acme", "apns_topic": "com.acme.app",
            }
        }
    )  # fmt: skip
    plan = pd.concat(
        [sms_plan(["tok-a", "bad"], "GCM"), sms_plan(["dev-1", "gone"], "APNS")], ignore_index=True
    )
    plan["endpoint_id"] = [f"ep-{i}" for i in range(len(plan))]
    report = deliver(project, plan, render=body_render, progress=False)
    assert (report.sent, report.failed) == (2, 2)
    fcm = next(r for r in provider.requests if r.path == "/v1/projects/acme/messages:send")
    assert fcm.headers["authorization"] == "Bearer fcm-token"
    msg = fcm.json()["message"]
    assert msg["notification"]["title"] == "Sale"
    assert msg["android"]["collapse_key"] == msg["data"]["engagekit_key"]
    apns = next(r for r in provider.requests if r.path == "/3/device/dev-1")
    assert apns.headers["authorization"] == "bearer apns-jwt"
    assert apns.headers["apns-topic"] == "com.acme.app"
    assert apns.headers["apns-push-type"] == "alert"
    assert apns.json()["aps"]["alert"]["body"].startswith("Hi u-")
    rows = ledger(project).set_index("address")
    assert rows.loc["bad", "error_code"] == "UNREGISTERED"
    assert rows.loc["gone", "error_code"] == "UNREGISTERED"
    assert rows.loc["tok-a", "message_id"] == "projects/acme/messages/tok-a"


def test_push_retries_429_with_retry_after(provider: Provider) -> None:
    calls = []

    def respond(req: Request) -> tuple[int, dict[str, str], bytes]:
        calls.append(req)
        if len(calls) == 1:
            return 429, {"Retry-After": "0"}, b'{"reason":"TooManyRequests"}'
        return 200, {}, b""

    provider.respond = respond
    ch = PushChannel("push", {"apns_url": provider.url})
    msg = Message.example("dev-1", Title="t", Body="b")
    msg.channel_type = "APNS"
    first, second = ch.send_batch([msg])[0], ch.send_batch([msg])[0]
    ch.close()
    assert (first.status, first.error_code, first.retry_after) == ("retry", "TOO_MANY_REQUESTS", 0)
    assert second.status == "sent"


# -- webhook ----------------------------------------------------------------------------------
def test_webhook_posts_signed_batches(
    project: Project, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGEKIT_WEBHOOK_SECRET", "hush")

    def respond(req: Request) -> tuple[int, dict[str, str], bytes]:
        verify(b"hush", req.headers["x-engagekit-timestamp"], req.body,
               req.headers["x-engagekit-signature"])  # fmt: skip
        eps = req.json()["Endpoints"]
        results = {eid: {"Status": "FAILED" if e["Address"] == "nope" else "OK"}
                   for eid, e in eps.items()}  # fmt: skip
        return 200, {"Content-Type": "application/json"}, json.dumps({"Results": results}).encode()

    provider.respond = respond
    project.update_settings(
        channels={"hook": {"type": "webhook", "url": provider.url + "/hook", "batch_size": 2}}
    )
    plan = sms_plan(["a", "b", "nope", "c", "d"], "CUSTOM")
    report = deliver(project, plan, render=body_render, progress=False)
    assert (report.sent, report.failed) == (4, 1)
    assert [len(r.json()["Endpoints"]) for r in provider.requests] == [2, 2, 1]
    req = provider.requests[0]
    expected = hmac.new(
        b"hush", req.headers["x-engagekit-timestamp"].encode() + b"." + req.body, hashlib.sha256
    ).hexdigest()
    assert req.headers["x-engagekit-signature"] == f"sha256={expected}"
    entry = req.json()["Endpoints"]["ep-0"]
    assert entry["IdempotencyKey"] == idempotency_key("r1", "ep-0", "send")
    assert entry["Message"]["Body"].startswith("Hi u-0")


def test_webhook_signature_check_rejects_tampering() -> None:
    with pytest.raises(ChannelError, match="signature does not match"):
        verify(b"k", "9999999999", b"{}", "sha256=00", max_age=1e12)


def test_webhook_server_errors_are_retried_then_recorded(
    project: Project, provider: Provider
) -> None:
    provider.respond = lambda req: (503, {}, b"busy")
    ch = WebhookChannel("hook", {"url": provider.url})
    assert ch.send_batch([Message.example("a")])[0].status == "retry"
    provider.respond = lambda req: (400, {}, b"bad")
    result = ch.send_batch([Message.example("a")])[0]
    assert (result.status, result.error_code) == ("failed", "HTTP_400")
