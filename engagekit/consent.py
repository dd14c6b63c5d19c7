"""Suppression and consent: hard bounces, complaints, SMS opt-out keywords, email unsubscribes.

The project's ``suppression`` table (address -> reason BOUNCE / COMPLAINT / OPT_OUT / MANUAL)
is the live source of truth: :func:`engagekit.delivery.deliver` checks it right before each
batch is sent, and campaign planning excludes it. Opting out also sets ``OptOut = "ALL"`` on
the endpoints in the project's snapshot.

    >>> is_opt_out_keyword("  stop ")
    True
    >>> handle_inbound_sms(project, {"originationNumber": "+15555550100",   # doctest: +SKIP
    ...                              "messageBody": "STOP"})
    True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from engagekit.errors import EngagekitError
from engagekit.store import isonow

#: AWS End User Messaging's default opt-out keywords (matched ignoring case and spaces).
OPT_OUT_KEYWORDS = frozenset(
    {"ARRET", "CANCEL", "END", "OPT-OUT", "OPTOUT", "QUIT", "REMOVE", "STOP", "TD", "UNSUBSCRIBE"}
)
REASONS = ("BOUNCE", "COMPLAINT", "OPT_OUT", "MANUAL")
KEY_ENV = "ENGAGEKIT_UNSUBSCRIBE_KEY"


class ConsentError(EngagekitError):
    """An unsubscribe token is invalid, or a consent request is malformed."""


def is_opt_out_keyword(text: str) -> bool:
    """Whether an inbound SMS body is an opt-out keyword (any case, surrounding spaces)."""
    return text.strip().upper() in OPT_OUT_KEYWORDS


# -- suppression table ---------------------------------------------------------------------
def suppress(
    project: Any, addresses: str | Iterable[str], reason: str = "MANUAL", source: str = "manual"
) -> int:
    """Put addresses on the suppression list (kept lower-cased); returns how many were new."""
    if reason not in REASONS:
        raise ConsentError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
    items = [addresses] if isinstance(addresses, str) else list(addresses)
    now = isonow()
    with project.store.transaction() as conn:
        before = conn.total_changes
        conn.executemany(
            "INSERT INTO suppression (address, reason, source, created_at) VALUES (?,?,?,?) "
            "ON CONFLICT (address) DO NOTHING",
            [(a.strip().lower(), reason, source, now) for a in items if a and a.strip()],
        )
        return conn.total_changes - before


def unsuppress(project: Any, address: str) -> bool:
    """Remove an address from the suppression list (e.g. after a fixed mailbox)."""
    with project.store.transaction() as conn:
        cur = conn.execute("DELETE FROM suppression WHERE address=?", (address.strip().lower(),))
        return cur.rowcount > 0


def suppression_list(project: Any) -> pd.DataFrame:
    """The suppression table as a DataFrame (address, reason, source, created_at)."""
    rows = project.store.connect().execute(
        "SELECT address, reason, source, created_at FROM suppression ORDER BY created_at"
    )
    return pd.DataFrame(
        [tuple(r) for r in rows], columns=["address", "reason", "source", "created_at"]
    )


def is_suppressed(project: Any, address: str) -> bool:
    row = (
        project.store.connect()
        .execute("SELECT 1 FROM suppression WHERE address=?", (address.strip().lower(),))
        .fetchone()
    )
    return row is not None


# -- opt-out -------------------------------------------------------------------------------
def opt_out(
    project: Any,
    *,
    address: str | None = None,
    endpoint_id: str | None = None,
    source: str = "manual",
) -> list[str]:
    """Opt an address (all its endpoints) or one endpoint out of everything (OptOut=ALL).

    Records the address(es) in the suppression table with reason OPT_OUT, so sends stop from
    the next batch on, and updates the endpoint snapshot. Returns the opted-out addresses.
    """
    if not address and not endpoint_id:
        raise ConsentError("opt_out needs an address or an endpoint_id")
    addresses = {address.strip().lower()} if address else set()
    endpoints = _snapshot(project)
    if endpoint_id:
        if endpoints is not None:
            hit = endpoints.loc[endpoints["Id"] == endpoint_id, "Address"].dropna()
            addresses |= {str(a).lower() for a in hit}
        rows = project.store.connect().execute(
            "SELECT DISTINCT address FROM ledger WHERE endpoint_id=?", (endpoint_id,)
        )
        addresses |= {str(r[0]).lower() for r in rows if r[0]}
    if not addresses:
        raise ConsentError(f"no address known for endpoint {endpoint_id!r}")
    suppress(project, addresses, "OPT_OUT", source)
    if endpoints is not None:
        mask = endpoints["Address"].astype("string").str.lower().isin(addresses)
        if endpoint_id:
            mask |= endpoints["Id"] == endpoint_id
        if mask.any() and (endpoints.loc[mask, "OptOut"].astype("string") != "ALL").any():
            updated = endpoints.copy()
            updated.loc[mask, "OptOut"] = "ALL"
            _write_snapshot(project, updated)
    return sorted(addresses)


def _snapshot(project: Any) -> pd.DataFrame | None:
    from engagekit import endpoints as ep

    reader = getattr(ep, "read_endpoints", None)
    if not project.store.endpoints_path.exists():
        return None
    if reader is not None:
        return reader(project)
    return pd.read_parquet(project.store.endpoints_path)


def _write_snapshot(project: Any, df: pd.DataFrame) -> None:
    from engagekit import endpoints as ep

    writer = getattr(ep, "write_endpoints", None)
    if writer is not None:
        writer(project, df)
        return
    import pyarrow as pa

    with project.store.lock("endpoints"):
        project.store.write_table(
            project.store.endpoints_path.name, pa.Table.from_pandas(df, preserve_index=False)
        )


def handle_inbound_sms(project: Any, message: Mapping[str, Any]) -> bool:
    """Process one inbound SMS (End User Messaging / Pinpoint two-way JSON shape).

    ``originationNumber`` is the sender, ``messageBody`` the text. An opt-out keyword opts the
    number out (OptOut=ALL, suppression OPT_OUT) and writes an ``_SMS.OPTOUT`` event; returns
    whether it was an opt-out.
    """
    number = str(message.get("originationNumber") or "").strip()
    body = str(message.get("messageBody") or "")
    if not number:
        raise ConsentError("an inbound SMS needs originationNumber (the sender's number)")
    if not is_opt_out_keyword(body):
        return False
    opt_out(project, address=number, source="inbound-sms")
    _event(project, "_SMS.OPTOUT", number, "SMS", {"keyword": body.strip().upper()})
    return True


# -- email unsubscribe (List-Unsubscribe, RFC 8058 one-click) --------------------------------
def signing_key(project: Any) -> bytes:
    """The key that signs unsubscribe tokens: ``$ENGAGEKIT_UNSUBSCRIBE_KEY`` or a random key
    kept in the project's store (never in engagekit.toml)."""
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    path = project.store.root / ".unsubscribe_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    return path.read_bytes().strip()


def make_token(key: bytes, endpoint_id: str) -> str:
    """``<endpoint id, base64url>.<signature>``: what the unsubscribe URL carries."""
    ident = base64.urlsafe_b64encode(endpoint_id.encode()).rstrip(b"=").decode()
    sig = hmac.digest(key, endpoint_id.encode(), "sha256")[:16]
    return f"{ident}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def unsubscribe_token(project: Any, endpoint_id: str) -> str:
    return make_token(signing_key(project), endpoint_id)


def verify_token(project: Any, token: str) -> str:
    """The endpoint id a token was made for; raises ConsentError when forged or damaged."""
    try:
        ident, _sig = token.strip().split(".", 1)
        endpoint_id = base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConsentError(f"malformed unsubscribe token {token!r}") from exc
    if not hmac.compare_digest(make_token(signing_key(project), endpoint_id), token.strip()):
        raise ConsentError("unsubscribe token signature does not match (forged or from "
                           "another project)")  # fmt: skip
    return endpoint_id


def handle_unsubscribe(project: Any, token: str, *, body: str | None = None) -> list[str]:
    """An unsubscribe request (link click, mailto, or RFC 8058 one-click POST).

    For a one-click POST pass the request body; it must be ``List-Unsubscribe=One-Click``.
    Sets OptOut=ALL for the endpoint's address and writes an ``_email.unsubscribe`` event.
    """
    if body is not None and body.strip() != "List-Unsubscribe=One-Click":
        raise ConsentError("an RFC 8058 one-click POST body must be List-Unsubscribe=One-Click")
    endpoint_id = verify_token(project, token)
    addresses = opt_out(project, endpoint_id=endpoint_id, source="unsubscribe")
    _event(project, "_email.unsubscribe", endpoint_id, "EMAIL", {}, endpoint_id=endpoint_id)
    return addresses


def _event(
    project: Any,
    event_type: str,
    address: str,
    channel_type: str,
    attributes: dict[str, str],
    endpoint_id: str | None = None,
) -> None:
    from engagekit.delivery._events import EVENT_COLUMNS, append_events, event_id

    now = pd.Timestamp(datetime.now(UTC))
    digest = hashlib.blake2b(address.encode(), digest_size=8).hexdigest()
    row = dict.fromkeys(EVENT_COLUMNS)
    row.update(
        event_id=event_id("consent", endpoint_id or digest, now.isoformat(), event_type),
        event_type=event_type,
        event_timestamp=now,
        arrival_timestamp=now,
        endpoint_id=endpoint_id or "",
        channel_type=channel_type,
        attributes=attributes,
        metrics={},
    )
    frame = pd.DataFrame([row], columns=list(EVENT_COLUMNS))
    for col in ("event_timestamp", "arrival_timestamp"):
        frame[col] = frame[col].astype("datetime64[us, UTC]")
    append_events(project, frame)
