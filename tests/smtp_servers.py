"""Real SMTP servers on 127.0.0.1 for the delivery tests (aiosmtpd in a background thread).

* :class:`RecordingHandler` keeps every accepted message (envelope, bytes, Message-ID, time).
  With ``checkpoint=True`` the server advertises ``CHECKPOINT`` (RFC 1845) and remembers the
  ``TRANSID`` of completed transactions: a repeated transaction is acknowledged, not stored.
* ``drop_rate`` makes a server drop that share of new connections (and of DATA commands);
  ``lose_reply_rate`` stores that share of messages, then closes without answering.
* :class:`ScriptedHandler` answers by recipient local part: ``tempfail421`` (421, closes),
  ``greylist451`` (451 on the first try, then accepted), ``nouser550`` (550 user unknown).

Use the fixtures (``smtp_server``, ``flaky_smtp_server``, ``scripted_smtp_server``) or
:func:`start_server` directly.
"""

from __future__ import annotations

import contextlib
import email
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message_id: str | None
    transid: str | None
    at: float

    @property
    def message(self) -> email.message.Message:
        return email.message_from_bytes(self.data)


@dataclass
class RecordingHandler:
    """Stores accepted messages; optional CHECKPOINT/TRANSID dedup and PIPELINING advert."""

    checkpoint: bool = False
    pipelining: bool = False
    drop_rate: float = 0.0
    lose_reply_rate: float = 0.0
    seed: int = 0
    messages: list[Received] = field(default_factory=list)
    duplicates_ignored: int = 0
    dropped: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._transids: set[str] = set()
        self._random = random.Random(self.seed)

    def should_drop(self) -> bool:
        with self._lock:
            hit = self.drop_rate > 0 and self._random.random() < self.drop_rate
            self.dropped += hit
            return hit

    def _lose_reply(self) -> bool:  # called with self._lock held
        return self.lose_reply_rate > 0 and self._random.random() < self.lose_reply_rate

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        extra = []
        if self.checkpoint:
            extra.append("250-CHECKPOINT")
        if self.pipelining:
            extra.append("250-PIPELINING")
        return [responses[0], *extra, *responses[1:]]

    async def handle_DATA(self, server, session, envelope):
        if self.should_drop():
            server.transport.close()
            return "421 dropped"
        transid = _transid(envelope.mail_options)
        data = envelope.original_content or envelope.content
        with self._lock:
            if transid and self.checkpoint and transid in self._transids:
                self.duplicates_ignored += 1
                return "250 2.0.0 transaction already completed"
            if transid:
                self._transids.add(transid)
            lose = self._lose_reply()
            msg = email.message_from_bytes(data)
            self.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    data,
                    msg.get("Message-ID"),
                    transid,
                    time.time(),
                )
            )
        if lose:  # accepted and stored, but the client never hears it
            server.transport.close()
            return "421 gone"
        return "250 2.0.0 OK queued"

    def message_ids(self) -> list[str]:
        with self._lock:
            return [m.message_id or "" for m in self.messages]


@dataclass
class ScriptedHandler(RecordingHandler):
    """Answers 421 / 451-once / 550 according to the recipient's local part."""

    _seen: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.partition("@")[0].split("+")[0]
        if local == "tempfail421":
            return "421 4.3.2 service shutting down"
        if local == "greylist451":
            with self._lock:
                first = address not in self._seen
                self._seen.add(address)
            if first:
                return "451 4.7.1 greylisted, try again later"
        if local == "nouser550":
            return "550 5.1.1 user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _transid(options: list[str]) -> str | None:
    for opt in options:
        if opt.upper().startswith("TRANSID="):
            return opt.split("=", 1)[1]
    return None


class _SMTP(SMTP):
    """aiosmtpd's server accepting the TRANSID parameter and dropping connections on demand."""

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is not None:
            result.pop("TRANSID", None)
        return result

    def connection_made(self, transport):
        super().connection_made(transport)
        handler = self.event_handler
        if getattr(handler, "should_drop", None) and handler.should_drop():
            transport.close()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    handler: RecordingHandler
    host: str
    port: int
    controller: Any

    def settings(self, **extra: Any) -> dict[str, Any]:
        """engagekit channel settings pointing at this server (sandbox off)."""
        return {
            "type": "smtp",
            "host": self.host,
            "port": self.port,
            "from_address": "Acme News <news@acme.test>",
            "sandbox": False,
            "timeout": 10,
        } | extra


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"ada",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


@contextlib.contextmanager
def start_server(
    handler: RecordingHandler | None = None,
    *,
    tls_cert: tuple[Path, Path] | None = None,
    auth: bool = False,
) -> Iterator[Server]:
    """Run an aiosmtpd server on 127.0.0.1 until the block ends.

    ``tls_cert`` (cert, key) enables STARTTLS; ``auth`` requires AUTH (user ada, password
    s3cret), allowed over TLS only when ``tls_cert`` is given.
    """
    handler = handler or RecordingHandler()
    kwargs: dict[str, Any] = {}
    if tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
        kwargs["tls_context"] = ctx
        kwargs["require_starttls"] = True
    if auth:
        kwargs["authenticator"] = _authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = bool(tls_cert)
    for _ in range(5):
        port = free_port()
        controller = _Controller(
            handler, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs
        )
        try:
            controller.start()
            break
        except (OSError, TimeoutError):
            continue
    else:  # pragma: no cover
        raise RuntimeError("could not start an SMTP server on 127.0.0.1")
    try:
        yield Server(handler, "127.0.0.1", port, controller)
    finally:
        controller.stop()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (for STARTTLS tests)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
