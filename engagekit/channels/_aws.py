"""Shared helpers of the boto3 channels: clients from the credential chain, error classes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engagekit.channels import Message, SendResult

#: botocore error codes worth a retry (throttling and provider-side trouble)
RETRYABLE_CODES = frozenset(
    {
        "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
        "LimitExceededException", "RequestLimitExceeded", "ServiceUnavailable",
        "ServiceUnavailableException", "InternalFailure", "InternalServerException",
        "InternalServerError", "InternalError", "RequestTimeout", "RequestTimeoutException",
    }
)  # fmt: skip


def make_client(service: str, settings: Mapping[str, Any]) -> Any:
    """A boto3 client; credentials from the environment / boto3's chain only."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={
            "total_max_attempts": 1,
            "mode": "standard",
        },  # deliver() retries with its own backoff
        connect_timeout=float(settings.get("connect_timeout", 5)),
        read_timeout=float(settings.get("timeout", 30)),
        max_pool_connections=max(10, int(settings.get("connections", 1))),
    )
    kwargs: dict[str, Any] = {"config": config}
    if settings.get("region"):
        kwargs["region_name"] = settings["region"]
    if settings.get("endpoint_url"):
        kwargs["endpoint_url"] = settings["endpoint_url"]
    return boto3.session.Session().client(service, **kwargs)


def classify(exc: Exception, *, sent: bool) -> SendResult:
    """A botocore exception as a SendResult. ``sent``: whether the request left this process."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "ClientError")
        message = str(err.get("Message") or exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400)
        if code in RETRYABLE_CODES or status in (429, 500, 502, 503, 504):
            return SendResult("retry", error_code=_upper(code), error=message)
        outcome = "optout" if "OptedOut" in code or "opted out" in message.lower() else "rejected"
        return SendResult("failed", outcome=outcome, error_code=_upper(code), error=message)
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return SendResult("retry", error_code="CONNECTION_FAILED", error=str(exc))
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        # the request went out; the answer did not come back
        return SendResult("in_doubt" if sent else "retry", error_code="TIMEOUT", error=str(exc))
    return SendResult("retry", error_code="CONNECTION_DROPPED", error=str(exc))


def _upper(code: str) -> str:
    out = []
    for i, ch in enumerate(code):
        if ch.isupper() and i and not code[i - 1].isupper():
            out.append("_")
        out.append(ch.upper())
    return "".join(out).replace("-", "_")


class ParallelSender:
    """Runs one request per message on ``connections`` threads; boto3 clients are thread-safe."""

    def __init__(self, connections: int) -> None:
        self.connections = max(1, connections)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def map(self, fn: Callable[[Message], SendResult], messages: Sequence[Message]) -> list:
        if self.connections == 1 or len(messages) == 1:
            return [fn(m) for m in messages]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.connections, thread_name_prefix="aws")
        return list(self._pool.map(fn, messages))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
