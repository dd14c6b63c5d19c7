"""Fast MIME: a ``multipart/alternative`` (text + HTML) message as bytes from a byte template.

Building an :class:`email.message.EmailMessage` per message costs ~1.8 ms; filling a byte
template costs a few microseconds, which is what lets a run reach thousands of messages per
second. The output is plain RFC 5322 / RFC 2045 (CRLF line ends, 7bit when the body is short-line
ASCII, quoted-printable otherwise; RFC 2047 encoded words for non-ASCII subjects).

    >>> b = MimeBuilder(from_header="Acme <news@acme.test>")
    >>> raw = b.build(to="ada@example.com", subject="Hi", text="Hello", html="<p>Hello</p>",
    ...               message_id="<r1.e1.send@acme.test>", date="Fri, 27 Nov 2026 12:00:00 +0000")
    >>> import email; email.message_from_bytes(raw)["Message-ID"]
    '<r1.e1.send@acme.test>'
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Mapping
from email.header import Header
from email.utils import formataddr, parseaddr

_CRLF = b"\r\n"


def _clean(value: str) -> str:
    """Header values never carry line breaks (header injection)."""
    return value.replace("\r", " ").replace("\n", " ")


def encode_header_value(value: str) -> bytes:
    """ASCII as is; anything else as RFC 2047 encoded words (folded)."""
    value = _clean(value)
    if value.isascii():
        return value.encode("ascii")
    return Header(value, "utf-8", maxlinelen=76).encode("\r\n ").encode("ascii")


def encode_address_header(value: str) -> bytes:
    """``Name <addr>`` with a non-ASCII display name encoded (RFC 2047)."""
    if value.isascii() and "<" not in value and " " not in value and "\n" not in value:
        return value.encode("ascii")  # a bare address: the common case, no parsing
    name, addr = parseaddr(_clean(value))
    if not name:
        return addr.encode("ascii", "strict") if addr.isascii() else addr.encode("utf-8")
    if name.isascii():
        return formataddr((name, addr)).encode("ascii")
    return encode_header_value(name) + b" <" + addr.encode("ascii") + b">"


def addr_spec(value: str) -> str:
    """The bare address of ``Name <addr>``."""
    return parseaddr(value)[1] or value


def encode_body(text: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, CRLF body): 7bit for short-line ASCII, else quoted-printable."""
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if body.isascii() and all(len(line) <= 990 for line in body.split("\n")):
        return b"7bit", body.encode("ascii").replace(b"\n", _CRLF)
    qp = binascii.b2a_qp(body.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return b"quoted-printable", qp.replace(b"\n", _CRLF)


class MimeBuilder:
    """Holds the per-channel constant header bytes; :meth:`build` fills one message."""

    def __init__(
        self,
        *,
        from_header: str,
        reply_to: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        fixed = [b"From: " + encode_address_header(from_header)]
        if reply_to:
            fixed.append(b"Reply-To: " + encode_address_header(reply_to))
        for name, value in (extra_headers or {}).items():
            fixed.append(name.encode("ascii") + b": " + encode_header_value(str(value)))
        fixed.append(b"MIME-Version: 1.0")
        self._fixed = _CRLF.join(fixed) + _CRLF
        self._boundary = f"=_ek_{secrets.token_hex(8)}".encode("ascii")

    def build(
        self,
        *,
        to: str,
        subject: str,
        text: str | None,
        html: str | None,
        message_id: str,
        date: str,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """The whole message as CRLF bytes (not yet dot-stuffed)."""
        head = [
            self._fixed,
            b"To: ",
            encode_address_header(to),
            b"\r\nSubject: ",
            encode_header_value(subject),
            b"\r\nDate: ",
            date.encode("ascii"),
            b"\r\nMessage-ID: ",
            message_id.encode("ascii"),
            _CRLF,
        ]
        for name, value in (headers or {}).items():
            head += [name.encode("ascii"), b": ", encode_header_value(value), _CRLF]
        parts = [(b"plain", text), (b"html", html)]
        present = [(sub, body) for sub, body in parts if body]
        if len(present) <= 1:
            sub, body = present[0] if present else (b"plain", "")
            cte, data = encode_body(body or "")
            head += [
                b"Content-Type: text/",
                sub,
                b"; charset=utf-8\r\nContent-Transfer-Encoding: ",
                cte,
                b"\r\n\r\n",
                data,
                _CRLF,
            ]
            return b"".join(head)
        boundary = self._boundary
        head += [
            b'Content-Type: multipart/alternative; boundary="',
            boundary,
            b'"\r\n\r\n',
        ]
        for sub, body in present:
            cte, data = encode_body(body or "")
            if boundary in data:  # practically never: re-draw and rebuild
                self._boundary = f"=_ek_{secrets.token_hex(12)}".encode("ascii")
                return self.build(
                    to=to,
                    subject=subject,
                    text=text,
                    html=html,
                    message_id=message_id,
                    date=date,
                    headers=headers,
                )
            head += [
                b"--",
                boundary,
                b"\r\nContent-Type: text/",
                sub,
                b"; charset=utf-8\r\nContent-Transfer-Encoding: ",
                cte,
                b"\r\n\r\n",
                data,
                _CRLF,
            ]
        head += [b"--", boundary, b"--\r\n"]
        return b"".join(head)
