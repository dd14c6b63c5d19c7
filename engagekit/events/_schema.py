"""The event model: Pinpoint's event JSON, the lake's flat columns, and the mapping between them.

Pinpoint streams one JSON object per event (``event_type``, ``event_timestamp`` and
``arrival_timestamp`` in Unix milliseconds, ``application``, ``client``, ``device``, ``session``,
``attributes``, ``metrics``, ``endpoint``, ``facets`` for message events). The lake keeps the
fields analytics filter and group on as flat columns, promotes the campaign, journey and
purchase keys out of ``attributes``/``metrics`` (``campaign_id``, ``treatment_id``,
``_item_price``, ...), keeps every other attribute and metric in ``attributes``
(``map<string,string>``) and ``metrics`` (``map<string,double>``), and everything else of the
original JSON in ``extra`` (a JSON string), so a row converts back to the event it came from.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

TS: Final = pa.timestamp("us", tz="UTC")
ATTRIBUTES_TYPE: Final = pa.map_(pa.string(), pa.string())
METRICS_TYPE: Final = pa.map_(pa.string(), pa.float64())

#: The lake's columns, in order, with their Arrow types.
LAKE_SCHEMA: Final = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("event_timestamp", TS),
        ("arrival_timestamp", TS),
        ("event_version", pa.string()),
        ("app_id", pa.string()),
        ("client_id", pa.string()),
        ("endpoint_id", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("session_start_timestamp", TS),
        ("session_stop_timestamp", TS),
        ("channel_type", pa.string()),
        ("campaign_id", pa.string()),
        ("campaign_activity_id", pa.string()),
        ("run_id", pa.string()),
        ("treatment_id", pa.string()),
        ("journey_id", pa.string()),
        ("journey_activity_id", pa.string()),
        ("message_id", pa.string()),
        ("platform", pa.string()),
        ("app_version", pa.string()),
        ("make", pa.string()),
        ("model", pa.string()),
        ("country", pa.string()),
        ("locale", pa.string()),
        ("product_id", pa.string()),
        ("currency", pa.string()),
        ("quantity", pa.float64()),
        ("item_price", pa.float64()),
        ("attributes", ATTRIBUTES_TYPE),
        ("metrics", METRICS_TYPE),
        ("extra", pa.string()),
    ]
)
COLUMNS: Final = tuple(LAKE_SCHEMA.names)
TIMESTAMP_COLUMNS: Final = (
    "event_timestamp",
    "arrival_timestamp",
    "session_start_timestamp",
    "session_stop_timestamp",
)
FLOAT_COLUMNS: Final = ("quantity", "item_price")
STRING_COLUMNS: Final = tuple(
    f.name for f in LAKE_SCHEMA if pa.types.is_string(f.type) and f.name != "extra"
)

#: Attribute keys promoted to flat columns (Pinpoint attribute name -> column).
PROMOTED_ATTRIBUTES: Final[dict[str, str]] = {
    "campaign_id": "campaign_id",
    "campaign_activity_id": "campaign_activity_id",
    "treatment_id": "treatment_id",
    "journey_id": "journey_id",
    "journey_activity_id": "journey_activity_id",
    "run_id": "run_id",
    "message_id": "message_id",
    "_product_id": "product_id",
    "_currency": "currency",
}
#: Metric keys promoted to flat columns.
PROMOTED_METRICS: Final[dict[str, str]] = {"_quantity": "quantity", "_item_price": "item_price"}
ATTRIBUTE_FOR_COLUMN: Final = {v: k for k, v in PROMOTED_ATTRIBUTES.items()}
METRIC_FOR_COLUMN: Final = {v: k for k, v in PROMOTED_METRICS.items()}

# Pinpoint's limits on custom event data (PutEvents quotas), checked on ingest.
MAX_EVENT_TYPE_LENGTH: Final = 50
MAX_ATTRIBUTES: Final = 40
MAX_METRICS: Final = 40
MAX_KEY_LENGTH: Final = 50
MAX_ATTRIBUTE_VALUE_LENGTH: Final = 1000

#: Event types engagekit and Pinpoint emit (custom types are any other non-empty name).
STANDARD_EVENT_TYPES: Final = (
    "_session.start",
    "_session.stop",
    "_session.pause",
    "_session.resume",
    "_monetization.purchase",
    "_userauth.sign_in",
    "_userauth.sign_up",
    "_userauth.auth_fail",
    "_campaign.send",
    "_campaign.opened_notification",
    "_campaign.received_foreground",
    "_campaign.received_background",
    "_email.send",
    "_email.delivered",
    "_email.rejected",
    "_email.hardbounce",
    "_email.softbounce",
    "_email.complaint",
    "_email.open",
    "_email.click",
    "_email.unsubscribe",
    "_SMS.BUFFERED",
    "_SMS.SUCCESS",
    "_SMS.FAILURE",
    "_SMS.OPTOUT",
    "_SMS.RECEIVED",
    "_push.send",
    "_push.delivered",
    "_push.failure",
    "_push.open",
    "_voice.send",
    "_voice.success",
    "_voice.failure",
    "_journey.send",
    "_custom.send",
)


class Application(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    app_id: str | None = None
    package_name: str | None = None
    title: str | None = None
    version_name: str | None = None
    version_code: str | None = None
    sdk: dict[str, str] | None = None


class Client(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    client_id: str | None = None
    cognito_id: str | None = None


class Platform(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    name: str | None = None
    version: str | None = None


class Locale(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    code: str | None = None
    country: str | None = None
    language: str | None = None


class Device(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    locale: Locale | None = None
    make: str | None = None
    model: str | None = None
    platform: Platform | None = None


class Session(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    session_id: str | None = None
    start_timestamp: int | None = None
    stop_timestamp: int | None = None


class Event(BaseModel):
    """One event in Pinpoint's streamed JSON shape (timestamps in Unix milliseconds).

    ``event_id`` is engagekit's addition: the id ingest deduplicates on (derived from the event
    when absent). Unknown fields (``awsAccountId``, ``facets``, ...) are kept.

    >>> e = Event(event_type="_session.start", event_timestamp=1700000000000,
    ...           client={"client_id": "ep-1"}, session={"session_id": "s-1"})
    >>> to_row(e.model_dump(exclude_none=True))["endpoint_id"]
    'ep-1'
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    event_id: str | None = None
    event_type: str = Field(min_length=1, max_length=MAX_EVENT_TYPE_LENGTH)
    event_timestamp: int
    arrival_timestamp: int | None = None
    event_version: str | None = "3.0"
    application: Application | None = None
    client: Client | None = None
    device: Device | None = None
    session: Session | None = None
    attributes: dict[str, str] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=MAX_METRICS)
    endpoint: dict[str, Any] | None = None

    @field_validator("event_timestamp", "arrival_timestamp", mode="before")
    @classmethod
    def _millis(cls, value: Any) -> Any:
        return to_millis(value) if value is not None else None

    @field_validator("metrics")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"metrics must be finite numbers; not {', '.join(bad)}")
        return value

    def to_row(self) -> dict[str, Any]:
        """This event as one lake row (flat columns)."""
        return to_row(self.model_dump(exclude_none=True))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Event:
        """The event a lake row came from."""
        return cls.model_validate(to_pinpoint(row))


def to_millis(value: Any) -> int:
    """Unix milliseconds from milliseconds, a digit string, an ISO 8601 string or a datetime."""
    if isinstance(value, bool):
        raise ValueError("a timestamp cannot be a boolean")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return round(value.timestamp() * 1000)
    raise ValueError(f"not a timestamp: {value!r}")


class RowError(ValueError):
    """A record that cannot become a row; ``code`` is the reject reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _str_or_none(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def to_row(record: dict[str, Any]) -> dict[str, Any]:
    """A Pinpoint event JSON object (or an already flat record) as one flat lake row.

    Timestamps stay as given (converted in bulk later); attribute values become strings and
    metric values floats. Raises :class:`RowError` for records that cannot be rows at all.
    """
    if not isinstance(record, dict):
        raise RowError(
            "NOT_AN_OBJECT", f"an event must be a JSON object, not {type(record).__name__}"
        )
    attrs_in = record.get("attributes") or {}
    metrics_in = record.get("metrics") or {}
    if not isinstance(attrs_in, dict):
        raise RowError("BAD_ATTRIBUTES", "attributes must be an object of string values")
    if not isinstance(metrics_in, dict):
        raise RowError("BAD_METRICS", "metrics must be an object of numbers")
    row: dict[str, Any] = {c: record.get(c) for c in COLUMNS if c in record}
    row.pop("attributes", None)
    row.pop("metrics", None)
    raw_session, raw_endpoint = record.get("session"), record.get("endpoint")
    session: dict[str, Any] = raw_session if isinstance(raw_session, dict) else {}
    endpoint: dict[str, Any] = raw_endpoint if isinstance(raw_endpoint, dict) else {}
    nested = {
        "app_id": _get(record, "application", "app_id"),
        "app_version": _get(record, "application", "version_name"),
        "client_id": _get(record, "client", "client_id"),
        "session_id": session.get("session_id"),
        "session_start_timestamp": session.get("start_timestamp"),
        "session_stop_timestamp": session.get("stop_timestamp"),
        "platform": _get(record, "device", "platform", "name")
        or _get(endpoint, "Demographic", "Platform"),
        "make": _get(record, "device", "make") or _get(endpoint, "Demographic", "Make"),
        "model": _get(record, "device", "model") or _get(endpoint, "Demographic", "Model"),
        "country": _get(record, "device", "locale", "country")
        or _get(endpoint, "Location", "Country"),
        "locale": _get(record, "device", "locale", "code")
        or _get(endpoint, "Demographic", "Locale"),
        "endpoint_id": endpoint.get("Id"),
        "message_id": _get(record, "facets", "email_channel", "mail_event", "mail", "message_id"),
        "user_id": _get(endpoint, "User", "UserId"),
        "channel_type": endpoint.get("ChannelType"),
    }
    for key, value in nested.items():
        if row.get(key) is None and value is not None:
            row[key] = value
    if row.get("endpoint_id") is None and row.get("client_id") is not None:
        row["endpoint_id"] = row["client_id"]
    attributes: dict[str, str] = {}
    for k, v in attrs_in.items():
        if v is None:
            continue
        if isinstance(v, (dict, list)):
            raise RowError(
                "BAD_ATTRIBUTES", f"attribute {k!r} must be a string, not {type(v).__name__}"
            )
        col = PROMOTED_ATTRIBUTES.get(k)
        if col is not None and row.get(col) is None:
            row[col] = str(v)
        elif col is None:
            attributes[str(k)] = str(v)
    metrics: dict[str, float] = {}
    for k, v in metrics_in.items():
        if v is None:
            continue
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise RowError("BAD_METRIC", f"metric {k!r} must be a number, not {v!r}") from None
        col = PROMOTED_METRICS.get(k)
        if col is not None and row.get(col) is None:
            row[col] = number
        elif col is None:
            metrics[str(k)] = number
    row["attributes"] = attributes
    row["metrics"] = metrics
    extra = _extra(record)
    if extra:
        row["extra"] = json.dumps(extra, sort_keys=True, default=str)
    return row


_KNOWN_TOP = set(COLUMNS) | {"application", "client", "device", "session", "endpoint"}


def _extra(record: dict[str, Any]) -> dict[str, Any]:
    """What of a record no flat column holds (kept for the round trip back to JSON)."""
    extra: dict[str, Any] = {k: v for k, v in record.items() if k not in _KNOWN_TOP}
    app = record.get("application")
    if isinstance(app, dict):
        rest = {k: v for k, v in app.items() if k not in ("app_id", "version_name")}
        if rest:
            extra["application"] = rest
    client = record.get("client")
    if isinstance(client, dict):
        rest = {k: v for k, v in client.items() if k != "client_id"}
        if rest:
            extra["client"] = rest
    device = record.get("device")
    if isinstance(device, dict):
        rest = {k: v for k, v in device.items() if k not in ("make", "model", "platform", "locale")}
        platform = device.get("platform")
        if isinstance(platform, dict) and set(platform) - {"name"}:
            rest["platform"] = {k: v for k, v in platform.items() if k != "name"}
        locale = device.get("locale")
        if isinstance(locale, dict) and set(locale) - {"code", "country"}:
            rest["locale"] = {k: v for k, v in locale.items() if k not in ("code", "country")}
        if rest:
            extra["device"] = rest
    session = record.get("session")
    if isinstance(session, dict):
        rest = {
            k: v
            for k, v in session.items()
            if k not in ("session_id", "start_timestamp", "stop_timestamp")
        }
        if rest:
            extra["session"] = rest
    endpoint = record.get("endpoint")
    if isinstance(endpoint, dict):
        rest = {k: v for k, v in endpoint.items() if k not in ("Id", "ChannelType")}
        user = endpoint.get("User")
        if isinstance(user, dict):
            user_rest = {k: v for k, v in user.items() if k != "UserId"}
            rest.pop("User", None)
            if user_rest:
                rest["User"] = user_rest
        if rest:
            extra["endpoint"] = rest
    return extra


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_millis(value)
    if hasattr(value, "value") and hasattr(value, "tz_convert"):  # pandas Timestamp
        return int(value.value // 1_000_000)
    return to_millis(value)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        elif k not in base:
            base[k] = v
    return base


def to_pinpoint(row: dict[str, Any]) -> dict[str, Any]:
    """A flat lake row as Pinpoint's event JSON (plus ``event_id``), timestamps in Unix ms."""

    def val(key: str) -> Any:
        v = row.get(key)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        try:
            import pandas as pd

            if v is pd.NA or v is pd.NaT:
                return None
        except ImportError:  # pragma: no cover
            pass
        return v

    out: dict[str, Any] = {
        "event_id": val("event_id"),
        "event_type": val("event_type"),
        "event_timestamp": _ms(val("event_timestamp")),
        "arrival_timestamp": _ms(val("arrival_timestamp")),
        "event_version": val("event_version") or "3.0",
    }
    app = {"app_id": val("app_id"), "version_name": val("app_version")}
    client = {"client_id": val("client_id") or val("endpoint_id")}
    device: dict[str, Any] = {"make": val("make"), "model": val("model")}
    if val("platform") is not None:
        device["platform"] = {"name": val("platform")}
    if val("locale") is not None or val("country") is not None:
        device["locale"] = {"code": val("locale"), "country": val("country")}
    session = {
        "session_id": val("session_id"),
        "start_timestamp": _ms(val("session_start_timestamp")),
        "stop_timestamp": _ms(val("session_stop_timestamp")),
    }
    endpoint: dict[str, Any] = {"Id": val("endpoint_id"), "ChannelType": val("channel_type")}
    if val("user_id") is not None:
        endpoint["User"] = {"UserId": val("user_id")}
    for key, part in (
        ("application", app),
        ("client", client),
        ("device", device),
        ("session", session),
        ("endpoint", endpoint),
    ):
        part = {k: v for k, v in part.items() if v is not None}
        if part:
            out[key] = part
    attributes = dict(_pairs(row.get("attributes")))
    for col, key in ATTRIBUTE_FOR_COLUMN.items():
        if val(col) is not None:
            attributes[key] = str(val(col))
    metrics = {k: float(v) for k, v in _pairs(row.get("metrics"))}
    for col, key in METRIC_FOR_COLUMN.items():
        if val(col) is not None:
            metrics[key] = float(val(col))
    out["attributes"] = attributes
    out["metrics"] = metrics
    extra = val("extra")
    if extra:
        _merge(out, json.loads(extra))
    return {k: v for k, v in out.items() if v is not None}


def _pairs(value: Any) -> list[tuple[str, Any]]:
    """Map values come back from Arrow as lists of (key, value) tuples, or as dicts."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    try:
        return [(k, v) for k, v in value]
    except (TypeError, ValueError):
        return []


def from_put_events(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of a Pinpoint ``PutEvents`` request body (``EventsRequest``) as event JSON objects.

    ``{"BatchItem": {"<endpoint id>": {"Endpoint": {...}, "Events": {"<event id>": {...}}}}}``:
    each event keeps its map key as ``event_id``; ``Timestamp`` (ISO 8601), ``Session``
    (``Id``, ``StartTimestamp``, ``StopTimestamp``), ``Attributes``, ``Metrics``, the app and SDK
    fields, and the endpoint's ``User.UserId``, ``ChannelType`` and demographics carry over.

    >>> body = {"BatchItem": {"ep-1": {"Endpoint": {"User": {"UserId": "u-1"}},
    ...     "Events": {"e-1": {"EventType": "_session.start",
    ...                        "Timestamp": "2026-10-01T10:00:00Z"}}}}}
    >>> from_put_events(body)[0]["event_id"]
    'e-1'
    """
    batch = request.get("BatchItem", request.get("EventsRequest", {}).get("BatchItem"))
    if not isinstance(batch, dict):
        raise ValueError("a PutEvents request has a BatchItem object (endpoint id -> batch)")
    out: list[dict[str, Any]] = []
    for endpoint_id, item in batch.items():
        endpoint = dict(item.get("Endpoint") or {})
        endpoint.setdefault("Id", endpoint_id)
        demo = endpoint.get("Demographic") or {}
        for event_id, e in (item.get("Events") or {}).items():
            session = e.get("Session") or {}
            record: dict[str, Any] = {
                "event_id": event_id,
                "event_type": e.get("EventType"),
                "event_timestamp": e.get("Timestamp"),
                "event_version": "3.0",
                "application": {
                    "app_id": e.get("AppPackageName"),
                    "title": e.get("AppTitle"),
                    "version_name": e.get("AppVersionCode") or demo.get("AppVersion"),
                    "sdk": {"name": e.get("SdkName"), "version": e.get("ClientSdkVersion")},
                },
                "client": {"client_id": e.get("ClientId") or endpoint_id},
                "session": {
                    "session_id": session.get("Id"),
                    "start_timestamp": session.get("StartTimestamp"),
                    "stop_timestamp": session.get("StopTimestamp"),
                },
                "attributes": e.get("Attributes") or {},
                "metrics": e.get("Metrics") or {},
                "endpoint": endpoint,
            }
            for part in ("application", "session"):
                record[part] = _drop_none(record[part])
            out.append(record)
    return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _drop_none(v)
            if not v:
                continue
        if v is not None:
            out[k] = v
    return out
