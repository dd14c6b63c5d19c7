"""Channels: the senders behind :func:`engagekit.delivery.deliver`, found by name.

A channel is a small class: ``__init__(name, settings)`` stores its settings (from
``engagekit.toml``'s ``[channels.<name>]`` table; credentials come only from the environment or
boto3's chain), ``send_batch(messages) -> list[SendResult]`` sends, ``close()`` releases
connections. Built-ins: ``smtp``, ``ses``, ``sms``, ``push``, ``webhook`` and ``simulator``
(the default for demos: no network, outcomes chosen by address). Third parties register more
through the ``engagekit.channels`` entry point group or :func:`register`.

    >>> from engagekit import channels
    >>> sim = channels.get("simulator")("email", {})
    >>> msg = channels.Message.example("bounce@simulator.amazonses.com")
    >>> [r.outcome for r in sim.send_batch([msg])]
    ['hardbounce']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Literal, Protocol

from engagekit.errors import ChannelError

ENTRY_POINT_GROUP = "engagekit.channels"

#: How a send ended. ``sent``: the provider accepted it. ``failed``: permanent, never retried.
#: ``retry``: transient (throttling, timeout, dropped connection, 4xx): retried with backoff.
#: ``in_doubt``: the connection broke after the message was handed over, before the provider's
#: answer arrived (it may or may not have been accepted).
SendStatus = Literal["sent", "failed", "retry", "in_doubt"]
ChannelKind = Literal["email", "sms", "push", "custom"]


@dataclass(slots=True)
class Message:
    """One rendered message ready to send; ``key`` is the ledger's (run, endpoint, step)."""

    run_id: str
    endpoint_id: str
    step: str
    address: str
    channel_type: str = "EMAIL"
    campaign: str = ""
    treatment_id: str = "0"
    user_id: str = ""
    parts: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    unsubscribe: dict[str, str] = field(default_factory=dict)
    ledger_id: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.run_id, self.endpoint_id, self.step)

    @classmethod
    def example(cls, address: str, **parts: str) -> Message:
        """A message for docs and tests."""
        return cls(
            run_id="r1",
            endpoint_id="e1",
            step="send",
            address=address,
            parts=parts or {"Subject": "Hi", "TextPart": "Hello", "HtmlPart": "<p>Hello</p>"},
            idempotency_key=idempotency_key("r1", "e1", "send"),
        )


@dataclass(slots=True)
class SendResult:
    """The provider's answer for one message (same order as the messages sent)."""

    status: SendStatus
    message_id: str | None = None
    outcome: str | None = None  # delivered, hardbounce, softbounce, complaint, ooto, ...
    error_code: str | None = None  # UPPER_SNAKE: THROTTLED, INVALID_ADDRESS, SMTP_550, ...
    error: str | None = None
    retry_after: float | None = None


def idempotency_key(run_id: str, endpoint_id: str, step: str) -> str:
    """A stable token for one ledger row: the same on every attempt and every resume.

    >>> idempotency_key("r1", "e1", "send") == idempotency_key("r1", "e1", "send")
    True
    """
    raw = f"{run_id}\x1f{endpoint_id}\x1f{step}".encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def message_id_for(run_id: str, endpoint_id: str, step: str, domain: str) -> str:
    """The deterministic RFC 5322 Message-ID of one ledger row, e.g. ``<r1.e1.send@acme.test>``.

    Readable ids when they are safe characters, else the row's idempotency key.
    """
    if all(_SAFE_ID.match(p) for p in (run_id, endpoint_id, step)):
        left = f"{run_id}.{endpoint_id}.{step}"
    else:
        left = idempotency_key(run_id, endpoint_id, step)
    return f"<{left}@{domain}>"


class Journal(Protocol):
    """Where a channel notes each message it hands over, and the provider's answer."""

    def begin(self, message: Message) -> None: ...

    def done(self, message: Message, result: SendResult) -> None: ...


class Channel:
    """Base class of channels. Subclasses set ``kind`` and implement :meth:`send_batch`."""

    kind: ClassVar[ChannelKind] = "email"
    #: whether the provider dedups on the idempotency key (resends of in-doubt rows are safe)
    idempotent: ClassVar[bool] = False
    #: default settings; ``engagekit.toml`` overrides them per configured channel
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        self.name = name
        merged = dict(self.defaults)
        merged.update({k: v for k, v in (settings or {}).items() if k != "type"})
        self.settings = merged
        #: set by the delivery engine: records "handing over" and the answer of each message,
        #: so a crashed run knows exactly which messages were in flight (see engagekit.delivery)
        self.journal: Journal | None = None

    def accepts(self, channel_type: str) -> bool:
        """Whether endpoints of this ChannelType can be sent through this channel."""
        return for_kind(self.kind, [channel_type])

    def _begin(self, m: Message) -> None:
        if self.journal is not None:
            self.journal.begin(m)

    def _done(self, m: Message, result: SendResult) -> SendResult:
        if self.journal is not None:
            self.journal.done(m, result)
        return result

    # -- contract ------------------------------------------------------------------------------
    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        raise NotImplementedError

    def open(self) -> None:
        """Connect ahead of the first message (so pacing is not skewed by connection setup)."""

    def close(self) -> None:
        """Release connections (called once at the end of a delivery)."""

    # -- limits the engine enforces ------------------------------------------------------------
    @property
    def sandbox(self) -> bool:
        """Email channels start in sandbox mode (verified recipients, 200/24 h, 1/s)."""
        return self.kind == "email" and bool(self.settings.get("sandbox", True))

    @property
    def max_send_rate(self) -> float:
        """Messages per second (0 = unlimited); 1 in sandbox mode."""
        rate = float(self.settings.get("max_send_rate", 0) or 0)
        return min(rate, 1.0) if self.sandbox and rate else (1.0 if self.sandbox else rate)

    @property
    def max_24_hour_send(self) -> int:
        """Rolling 24-hour quota (0 = unlimited); 200 in sandbox mode."""
        quota = int(self.settings.get("max_24_hour_send", 0) or 0)
        if self.sandbox:
            return min(quota, 200) if quota else 200
        return quota

    @property
    def connections(self) -> int:
        """How many messages the channel sends concurrently."""
        return max(1, int(self.settings.get("connections", 1)))

    def is_verified(self, address: str) -> bool:
        """In sandbox mode only verified addresses or domains receive mail."""
        verified = {str(v).lower() for v in self.settings.get("verified_identities", [])}
        addr = address.lower()
        return addr in verified or addr.rpartition("@")[2] in verified

    def message_cost(self, message: Message) -> tuple[str | None, float]:
        """(country, price) of one message; only SMS channels charge."""
        return None, 0.0

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class ChannelRegistry:
    """Name -> channel class. Entry points of group ``engagekit.channels`` load on first use."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Channel]] = {}
        self._entry_points_loaded = False

    def register(self, name: str, cls: type[Channel]) -> type[Channel]:
        if not (isinstance(cls, type) and issubclass(cls, Channel)):
            raise ChannelError(f"{cls!r} is not a subclass of engagekit.channels.Channel")
        self._classes[name] = cls
        return cls

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name not in self._classes:
                self.register(ep.name, ep.load())

    def get(self, name: str) -> type[Channel]:
        if name not in self._classes:
            self._load_entry_points()
        try:
            return self._classes[name]
        except KeyError:
            raise ChannelError(
                f"unknown channel type {name!r}; registered: {', '.join(self.names())} "
                f"(register more with engagekit.channels.register or the "
                f"{ENTRY_POINT_GROUP!r} entry point group)",
                details={"registered": self.names()},
            ) from None

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._classes)


#: The process-wide registry.
registry = ChannelRegistry()


def register(name: str, cls: type[Channel]) -> type[Channel]:
    """Make a channel class available by name (``type = "<name>"`` in engagekit.toml)."""
    return registry.register(name, cls)


def get(name: str) -> type[Channel]:
    """The channel class registered under ``name``; the error lists the registered names."""
    return registry.get(name)


def names() -> list[str]:
    return registry.names()


def configured(settings_channels: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names of channels configured in a project's settings."""
    return list(settings_channels)


def open_channel(project: Any, name: str | None = None, **overrides: Any) -> Channel:
    """An instance of the channel ``name`` configured in ``project``'s engagekit.toml.

    ``name`` may also be a registered type (``"simulator"``) that is not configured; then it
    runs with its defaults. Without ``name`` the first configured channel is used.
    """
    table: Mapping[str, Mapping[str, Any]] = project.settings.channels if project else {}
    if name is None:
        if not table:
            raise ChannelError("no channel configured in engagekit.toml and none given")
        name = next(iter(table))
    if name in table:
        settings = dict(table[name])
        cls = get(str(settings.get("type", name)))
    else:
        settings = {}
        try:
            cls = get(name)
        except ChannelError:
            raise ChannelError(
                f"no channel {name!r} in engagekit.toml (configured: "
                f"{', '.join(table) or 'none'}) and no channel type of that name; "
                f"registered types: {', '.join(names())}",
                channel=name,
            ) from None
    settings.update(overrides)
    return cls(name, settings)


def for_kind(kind: ChannelKind, channel_types: Iterable[str]) -> bool:
    """Whether a channel of ``kind`` can carry endpoints of these ChannelTypes."""
    wanted = {
        "email": {"EMAIL"},
        "sms": {"SMS"},
        "push": {"APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "GCM", "PUSH"},
        "custom": None,
    }[kind]
    return wanted is None or set(channel_types) <= wanted


__all__ = [
    "ENTRY_POINT_GROUP",
    "Channel",
    "ChannelRegistry",
    "Journal",
    "Message",
    "SendResult",
    "get",
    "idempotency_key",
    "message_id_for",
    "names",
    "open_channel",
    "register",
    "registry",
]

# -- built-ins (registered last, so the modules above can import this one) ---------------------
from engagekit.channels.push import PushChannel  # noqa: E402
from engagekit.channels.ses import SESChannel  # noqa: E402
from engagekit.channels.simulator import SimulatorChannel  # noqa: E402
from engagekit.channels.sms import SMSChannel  # noqa: E402
from engagekit.channels.smtp import SMTPChannel  # noqa: E402
from engagekit.channels.webhook import WebhookChannel  # noqa: E402

register("simulator", SimulatorChannel)
register("smtp", SMTPChannel)
register("ses", SESChannel)
register("sms", SMSChannel)
register("push", PushChannel)
register("webhook", WebhookChannel)
