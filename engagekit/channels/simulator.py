"""The ``simulator`` channel: no network, deterministic outcomes chosen by the address.

It is the default channel of a new project and of demos: a run through it writes the same
ledger rows and events as a real channel. Outcomes follow SES's mailbox simulator.

Email — the local part (before any ``+label``) picks the outcome, at any domain, and the
SES simulator's own addresses (``bounce@simulator.amazonses.com``) work as well:

==================  ==========================================  ==============================
local part          outcome                                     events after ``_email.send``
==================  ==========================================  ==============================
``success``/other   delivered                                   ``_email.delivered``
``bounce``          hard bounce (address put on suppression)    ``_email.hardbounce``
``softbounce``      soft bounce (mailbox full)                  ``_email.softbounce``
``complaint``       delivered, then a complaint (suppression)   ``_email.delivered``,
                                                                ``_email.complaint``
``ooto``            delivered, out-of-office auto reply         ``_email.delivered``
``suppressionlist`` hard bounce, sub-type ``Suppressed``        ``_email.hardbounce``
``reject``          rejected by the provider (never sent)       ``_email.rejected``
``throttle``        throttled on the first attempt, then        ``_email.delivered``
                    delivered (exercises retries)
==================  ==========================================  ==============================

SMS — the last four digits of the E.164 number: ``0001`` permanent failure (unreachable),
``0002`` the recipient has opted out at the carrier (``_SMS.OPTOUT``), ``0003`` throttled once;
anything else is buffered then delivered (``_SMS.BUFFERED``, ``_SMS.SUCCESS``).

Push — a device token starting with ``invalid`` is unregistered (``_push.failure``); other
tokens are delivered (``_push.send``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from engagekit.channels import Channel, ChannelKind, Message, SendResult

SIMULATOR_DOMAIN = "simulator.amazonses.com"

_EMAIL_OUTCOMES: dict[str, SendResult] = {
    "bounce": SendResult(
        "failed", outcome="hardbounce", error_code="HARD_BOUNCE", error="550 5.1.1 user unknown"
    ),
    "softbounce": SendResult(
        "sent", outcome="softbounce", error_code="SOFT_BOUNCE", error="452 4.2.2 mailbox full"
    ),
    "complaint": SendResult("sent", outcome="complaint"),
    "ooto": SendResult("sent", outcome="ooto"),
    "suppressionlist": SendResult(
        "failed",
        outcome="hardbounce",
        error_code="SUPPRESSED_BY_PROVIDER",
        error="address is on the provider's suppression list",
    ),
    "reject": SendResult(
        "failed", outcome="rejected", error_code="REJECTED", error="message rejected"
    ),
}


class SimulatorChannel(Channel):
    """A channel that sends nothing and answers like a provider (see the module docstring).

    ``kind`` follows the ``kind`` setting (``email`` default, ``sms``, ``push``, ``custom``).
    The provider side dedups on the idempotency key, so resending an in-doubt row is safe.
    """

    idempotent: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {"sandbox": False, "kind": "email", "connections": 1}

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        super().__init__(name, settings)
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        #: what the "provider" accepted: idempotency key -> address (a resend does not add)
        self.accepted: dict[str, str] = {}

    @property
    def kind(self) -> ChannelKind:  # type: ignore[override]
        return self.settings.get("kind", "email")

    def accepts(self, channel_type: str) -> bool:
        return True

    def message_cost(self, message: Message) -> tuple[str | None, float]:
        if message.channel_type != "SMS":
            return None, 0.0
        from engagekit.channels.sms import sms_cost

        return sms_cost(message.address, message.parts.get("Body", ""), self.settings)

    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        out = []
        for m in messages:
            self._begin(m)
            out.append(self._done(m, self._one(m)))
        return out

    def _one(self, m: Message) -> SendResult:
        key = m.idempotency_key
        with self._lock:
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
        ctype = m.channel_type
        if ctype == "SMS":
            result = _sms_outcome(m.address, attempt)
        elif ctype == "EMAIL":
            result = _email_outcome(m.address, attempt)
        elif ctype == "CUSTOM":
            result = SendResult("sent", outcome="delivered")
        else:
            result = (
                SendResult("failed", outcome="failure", error_code="UNREGISTERED")
                if m.address.startswith("invalid")
                else SendResult("sent", outcome="delivered")
            )
        if result.status == "sent":
            result = SendResult(
                "sent",
                message_id=f"sim-{key}",
                outcome=result.outcome,
                error_code=result.error_code,
                error=result.error,
            )
            with self._lock:
                self.accepted.setdefault(key, m.address)
        return result


def _email_outcome(address: str, attempt: int) -> SendResult:
    local = address.rpartition("@")[0].lower().split("+", 1)[0]
    if local == "throttle" and attempt == 1:
        return SendResult("retry", error_code="THROTTLED", error="Maximum sending rate exceeded")
    template = _EMAIL_OUTCOMES.get(local)
    if template is None:
        return SendResult("sent", outcome="delivered")
    return SendResult(
        template.status,
        outcome=template.outcome,
        error_code=template.error_code,
        error=template.error,
    )


def _sms_outcome(number: str, attempt: int) -> SendResult:
    tail = number[-4:]
    if tail == "0001":
        return SendResult(
            "failed", outcome="failure", error_code="UNREACHABLE", error="destination unreachable"
        )
    if tail == "0002":
        return SendResult(
            "failed", outcome="optout", error_code="OPTED_OUT", error="recipient opted out"
        )
    if tail == "0003" and attempt == 1:
        return SendResult("retry", error_code="THROTTLED", error="throttled")
    return SendResult("sent", outcome="delivered")
