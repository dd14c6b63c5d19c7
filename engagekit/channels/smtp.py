"""The ``smtp`` channel: smtplib over plain TCP, STARTTLS or implicit TLS, with AUTH.

Settings (``[channels.<name>]`` in engagekit.toml)::

    type = "smtp"
    host = "smtp.example.com"        # default 127.0.0.1
    port = 587                       # default 25 (none), 587 (starttls), 465 (ssl)
    security = "starttls"            # none | starttls | ssl
    from_address = "Acme <news@acme.test>"
    connections = 4                  # parallel connections, each reused across messages
    sandbox = false                  # on by default: verified recipients, 200/24 h, 1/s
    unsubscribe_url = "https://acme.test/u?token={token}"   # List-Unsubscribe (+ RFC 8058 Post)
    unsubscribe_mailto = "unsubscribe@acme.test"

Credentials come from the environment only: ``ENGAGEKIT_SMTP_USERNAME`` and
``ENGAGEKIT_SMTP_PASSWORD`` (or the variables named by ``username_env`` / ``password_env``).

Each message carries a deterministic ``Message-ID`` derived from its ledger row, so a resend
after a crash is recognisable by receivers. When the server advertises ``CHECKPOINT``
(RFC 1845) the Message-ID also goes as ``TRANSID`` on ``MAIL FROM``, letting the server recognise
a transaction it already completed. With ``PIPELINING`` (RFC 2920) MAIL, RCPT and DATA travel in
one write, so a message costs two round trips.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from typing import Any, ClassVar

from engagekit.channels import Channel, Message, SendResult, message_id_for
from engagekit.channels._mime import MimeBuilder, addr_spec
from engagekit.errors import ChannelError

_PERMANENT_RCPT = {550, 551, 553}
_TRANSIENT_EXC = (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError, socket.timeout)


class _InDoubt(Exception):
    """The message content was handed over but no reply arrived."""


class SMTPChannel(Channel):
    """Sends email over SMTP with several reused connections (see the module docstring)."""

    defaults: ClassVar[dict[str, Any]] = {
        "host": "127.0.0.1",
        "security": "none",
        "timeout": 30.0,
        "connections": 1,
        "tls_verify": True,
        "username_env": "ENGAGEKIT_SMTP_USERNAME",
        "password_env": "ENGAGEKIT_SMTP_PASSWORD",
        "max_messages_per_connection": 0,
    }

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        s = self.settings
        if not s.get("from_address"):
            raise ChannelError(
                "the smtp channel needs a from_address setting, e.g. "
                'from_address = "Acme <news@acme.test>" in engagekit.toml',
                channel=name,
            )
        if s["security"] not in ("none", "starttls", "ssl"):
            raise ChannelError(
                f"security must be none, starttls or ssl, not {s['security']!r}", channel=name
            )
        self.host: str = s["host"]
        self.port: int = int(
            s.get("port") or {"none": 25, "starttls": 587, "ssl": 465}[s["security"]]
        )
        self.envelope_from = s.get("envelope_from") or addr_spec(s["from_address"])
        self.domain = s.get("message_id_domain") or self.envelope_from.rpartition("@")[2]
        self.mime = MimeBuilder(from_header=s["from_address"], reply_to=s.get("reply_to"))
        self._conns: list[smtplib.SMTP | None] = [None] * self.connections
        self._counts = [0] * self.connections
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # -- message building ----------------------------------------------------------------------
    def message_id(self, m: Message) -> str:
        return message_id_for(m.run_id, m.endpoint_id, m.step, self.domain)

    def build(self, m: Message, date: str | None = None) -> bytes:
        """The RFC 5322 bytes of one message (List-Unsubscribe headers when configured)."""
        headers: dict[str, str] = {}
        unsub = []
        token = m.unsubscribe.get("token", "")
        if self.settings.get("unsubscribe_mailto"):
            unsub.append(
                f"<mailto:{self.settings['unsubscribe_mailto']}?subject=unsubscribe-{token}>"
            )
        if self.settings.get("unsubscribe_url"):
            unsub.append(f"<{self.settings['unsubscribe_url'].format(token=token)}>")
        if unsub:
            headers["List-Unsubscribe"] = ", ".join(unsub)
            if self.settings.get("unsubscribe_url"):
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if m.campaign:
            headers["X-Engagekit-Campaign"] = f"{m.campaign}; treatment={m.treatment_id}"
        return self.mime.build(
            to=m.address,
            subject=m.parts.get("Subject", ""),
            text=m.parts.get("TextPart"),
            html=m.parts.get("HtmlPart"),
            message_id=self.message_id(m),
            date=date or formatdate(usegmt=True),
            headers=headers,
        )

    # -- connections ---------------------------------------------------------------------------
    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        timeout = float(s["timeout"])
        context = ssl.create_default_context(cafile=s.get("ca_file"))
        if not s["tls_verify"]:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn: smtplib.SMTP
        if s["security"] == "ssl":
            conn = smtplib.SMTP_SSL(
                self.host, self.port, timeout=timeout, context=context,
                local_hostname=s.get("helo"),
            )  # fmt: skip
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=timeout, local_hostname=s.get("helo"))
        conn.ehlo()
        if s["security"] == "starttls":
            conn.starttls(context=context)
            conn.ehlo()
        user = os.environ.get(s["username_env"])
        if user:
            _login(conn, user, os.environ.get(s["password_env"], ""))
        return conn

    def open(self) -> None:
        """Open every connection now (in parallel); failures are left to the send path."""

        def connect(slot: int) -> None:
            if self._conns[slot] is None:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    self._conns[slot] = self._connect()

        if self.connections == 1:
            connect(0)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.connections, thread_name_prefix="smtp")
        list(self._pool.map(connect, range(self.connections)))

    def _drop(self, slot: int) -> None:
        conn = self._conns[slot]
        self._conns[slot] = None
        self._counts[slot] = 0
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        for slot, conn in enumerate(self._conns):
            if conn is not None:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    conn.quit()
                self._drop(slot)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- sending -------------------------------------------------------------------------------
    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(messages)
        n = min(self.connections, len(messages))
        if n == 0:
            return []
        date = formatdate(usegmt=True)
        if n == 1:
            self._run_slot(0, messages, range(len(messages)), results, date)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.connections, thread_name_prefix="smtp")
            futures = [
                self._pool.submit(
                    self._run_slot, slot, messages, range(slot, len(messages), n), results, date
                )
                for slot in range(n)
            ]
            for f in futures:
                f.result()
        return [r if r is not None else SendResult("retry", error_code="NOT_SENT") for r in results]

    def _run_slot(
        self,
        slot: int,
        messages: Sequence[Message],
        indexes: range,
        results: list[SendResult | None],
        date: str,
    ) -> None:
        todo = list(indexes)
        reconnects = 0
        while todo:
            conn = self._conns[slot]
            if conn is None and len(todo) > 1:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    conn = self._conns[slot] = self._connect()
            if conn is None or "pipelining" not in conn.esmtp_features or len(todo) == 1:
                results[todo[0]] = self._send_one(slot, messages[todo[0]], date)
                todo = todo[1:]
                continue
            todo = self._stream(slot, conn, messages, todo, results, date)
            if todo:  # the connection broke: reconnect (a few times) for the rest
                reconnects += 1
                if reconnects > 3:
                    for i in todo:
                        results[i] = self._done(
                            messages[i],
                            SendResult("retry", error_code="CONNECTION_DROPPED",
                                       error="the connection kept breaking"),
                        )  # fmt: skip
                    return

    def _envelope(self, conn: smtplib.SMTP, m: Message) -> bytes | SendResult:
        """``MAIL FROM`` + ``RCPT TO`` + ``DATA`` of one message, or why it cannot be sent."""
        rcpt = m.address
        features = conn.esmtp_features
        if "\r" in rcpt or "\n" in rcpt or ">" in rcpt or "<" in rcpt:
            return SendResult(
                "failed", outcome="rejected", error_code="INVALID_ADDRESS",
                error="the address contains line breaks or angle brackets",
            )  # fmt: skip
        opts = f" TRANSID={self.message_id(m)}" if "checkpoint" in features else ""
        if not rcpt.isascii():
            if "smtputf8" not in features:
                return SendResult(
                    "failed", outcome="rejected", error_code="INVALID_ADDRESS",
                    error="non-ASCII address and the server does not offer SMTPUTF8",
                )  # fmt: skip
            opts += " SMTPUTF8"
        return (f"MAIL FROM:<{self.envelope_from}>{opts}\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n").encode()

    def _stream(
        self,
        slot: int,
        conn: smtplib.SMTP,
        messages: Sequence[Message],
        todo: list[int],
        results: list[SendResult | None],
        date: str,
    ) -> list[int]:
        """RFC 2920 pipelining across messages: each write carries a message's content and
        terminating dot *and* the next message's envelope, so a message costs one round trip.

        Returns the indexes not yet handled when the connection broke (none handed over).
        """
        envelopes: dict[int, bytes | SendResult] = {}

        def envelope(i: int) -> bytes | SendResult:
            if i not in envelopes:
                envelopes[i] = self._envelope(conn, messages[i])
            return envelopes[i]

        pos = 0
        # skip messages that cannot be sent at all, then open the first envelope
        pending: int | None = None  # index whose envelope is on the wire, replies unread
        try:
            while pos < len(todo):
                i = todo[pos]
                m = messages[i]
                if pending != i:
                    env = envelope(i)
                    if isinstance(env, SendResult):
                        results[i] = self._done(m, env)
                        pos += 1
                        continue
                    conn.send(env)
                    pending = i
                replies = [conn.getreply(), conn.getreply(), conn.getreply()]
                pending = None
                failure = _envelope_failure(replies)
                if failure is not None:
                    if replies[2][0] == 354:  # the server waits for content: abandon it
                        conn.send(b".\r\n")
                        conn.getreply()
                    conn.rset()
                    results[i] = self._done(m, failure)
                    pos += 1
                    if failure.error_code == "SMTP_421":
                        self._drop(slot)
                        return todo[pos:]
                    continue
                payload = _dot_stuff(self.build(m, date))
                # the next sendable message's envelope rides along with this content
                nxt = None
                while pos + 1 < len(todo):
                    env = envelope(todo[pos + 1])
                    if isinstance(env, bytes):
                        nxt = todo[pos + 1]
                        payload += env
                        break
                    results[todo[pos + 1]] = self._done(messages[todo[pos + 1]], env)
                    del todo[pos + 1]
                self._begin(m)
                try:
                    conn.send(payload)
                except (*_TRANSIENT_EXC, OSError, smtplib.SMTPException) as exc:
                    # the dot precedes the next envelope in this write: it may have left
                    results[i] = SendResult(
                        "in_doubt", error_code="CONNECTION_DROPPED", error=str(exc)
                    )
                    self._drop(slot)
                    return todo[pos + 1 :]
                pending = nxt
                try:
                    code, text = conn.getreply()
                except (*_TRANSIENT_EXC, OSError, smtplib.SMTPException) as exc:
                    results[i] = SendResult(
                        "in_doubt", error_code="CONNECTION_DROPPED",
                        error=f"no reply after the message content: {exc}",
                    )  # fmt: skip
                    self._drop(slot)
                    return todo[pos + 1 :]
                if code == 250:
                    res = SendResult("sent", message_id=self.message_id(m), outcome="delivered")
                else:
                    res = _classify("DATA_END", code, text)
                results[i] = self._done(m, res)
                self._counts[slot] += 1
                pos += 1
        except (*_TRANSIENT_EXC, OSError, smtplib.SMTPException) as exc:
            # broke while sending or reading an envelope: that message was not handed over
            if pos < len(todo):
                i = todo[pos]
                results[i] = self._done(messages[i], SendResult(
                    "retry", error_code="CONNECTION_DROPPED", error=str(exc)))  # fmt: skip
                pos += 1
            self._drop(slot)
            return todo[pos:]
        return []

    def _send_one(self, slot: int, m: Message, date: str) -> SendResult:
        try:
            conn = self._conns[slot]
            if conn is None:
                conn = self._conns[slot] = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(
                f"SMTP authentication failed ({exc.smtp_code}); check the "
                f"{self.settings['username_env']}/{self.settings['password_env']} variables",
                channel=self.name,
            ) from exc
        except (*_TRANSIENT_EXC, smtplib.SMTPException, OSError) as exc:
            return SendResult("retry", error_code="CONNECTION_FAILED", error=str(exc))
        try:
            data = self.build(m, date)
            result = self._done(m, self._transaction(conn, m, data))
        except _InDoubt as exc:
            self._drop(slot)
            return SendResult("in_doubt", error_code="CONNECTION_DROPPED", error=str(exc))
        except (*_TRANSIENT_EXC, smtplib.SMTPException, OSError) as exc:
            self._drop(slot)
            return self._done(
                m, SendResult("retry", error_code="CONNECTION_DROPPED", error=str(exc))
            )
        self._counts[slot] += 1
        limit = int(self.settings["max_messages_per_connection"])
        if result.error_code in ("SMTP_421",) or (limit and self._counts[slot] >= limit):
            self._drop(slot)
        return result

    def _transaction(self, conn: smtplib.SMTP, m: Message, data: bytes) -> SendResult:
        rcpt = m.address
        mail_opts = ""
        features = conn.esmtp_features
        if "checkpoint" in features:
            mail_opts += f" TRANSID={self.message_id(m)}"
        if "smtputf8" in features and not rcpt.isascii():
            mail_opts += " SMTPUTF8"
        if not rcpt.isascii() and "smtputf8" not in features:
            return SendResult(
                "failed", outcome="rejected", error_code="INVALID_ADDRESS",
                error="non-ASCII address and the server does not offer SMTPUTF8",
            )  # fmt: skip
        mail = f"MAIL FROM:<{self.envelope_from}>{mail_opts}\r\n"
        rcpt_cmd = f"RCPT TO:<{rcpt}>\r\n"
        if "\r" in rcpt or "\n" in rcpt or ">" in rcpt or "<" in rcpt:
            return SendResult("failed", outcome="rejected", error_code="INVALID_ADDRESS")
        if "pipelining" in features:
            conn.send((mail + rcpt_cmd + "DATA\r\n").encode("utf-8"))
            replies = [conn.getreply(), conn.getreply(), conn.getreply()]
        else:
            replies = [conn.docmd(mail.strip())]
            if replies[0][0] == 250:
                replies.append(conn.docmd(rcpt_cmd.strip()))
                if replies[1][0] in (250, 251):
                    replies.append(conn.docmd("DATA"))
        for stage, (code, text) in zip(("MAIL", "RCPT", "DATA"), replies, strict=False):
            ok = code in ((250, 251) if stage == "RCPT" else (354,) if stage == "DATA" else (250,))
            if not ok:
                if len(replies) == 3 and replies[2][0] == 354:
                    # pipelined: the server is waiting for content; abandon the message
                    conn.send(b".\r\n")
                    conn.getreply()
                    conn.rset()
                elif stage != "MAIL":
                    conn.rset()
                return _classify(stage, code, text)
        payload = _dot_stuff(data)
        self._begin(m)
        try:
            conn.send(payload)
        except (*_TRANSIENT_EXC, OSError, smtplib.SMTPException) as exc:
            # not all bytes left this process, so the terminating dot did not: not accepted
            raise smtplib.SMTPServerDisconnected(str(exc)) from exc
        try:
            code, text = conn.getreply()
        except (*_TRANSIENT_EXC, OSError, smtplib.SMTPException) as exc:
            raise _InDoubt(f"no reply after the message content: {exc}") from exc
        if code == 250:
            return SendResult(
                "sent",
                message_id=self.message_id(m),
                outcome="delivered",
            )
        return _classify("DATA_END", code, text)


def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH with one mechanism (PLAIN, else LOGIN, else CRAM-MD5): a refusal is final."""
    offered = conn.esmtp_features.get("auth", "").upper().split()
    for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
        if mech in offered:
            conn.user, conn.password = user, password
            method = getattr(conn, "auth_" + mech.lower().replace("-", "_"))
            conn.auth(mech, method, initial_response_ok=True)
            return
    raise smtplib.SMTPNotSupportedError("the server offers no AUTH mechanism engagekit speaks")


def _dot_stuff(data: bytes) -> bytes:
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _envelope_failure(replies: list[tuple[int, bytes]]) -> SendResult | None:
    for stage, (code, text) in zip(("MAIL", "RCPT", "DATA"), replies, strict=True):
        ok = code in ((250, 251) if stage == "RCPT" else (354,) if stage == "DATA" else (250,))
        if not ok:
            return _classify(stage, code, text)
    return None


def _classify(stage: str, code: int, text: bytes | str) -> SendResult:
    msg = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    error = f"{stage} {code} {msg}".strip()
    if 400 <= code < 500 or code == -1:
        return SendResult("retry", error_code=f"SMTP_{code}", error=error)
    if stage == "RCPT" and code in _PERMANENT_RCPT:
        return SendResult("failed", outcome="hardbounce", error_code=f"SMTP_{code}", error=error)
    return SendResult("failed", outcome="rejected", error_code=f"SMTP_{code}", error=error)
