"""Pinpoint-style events derived from completed ledger rows.

Events are a pure function of a ledger row (status, outcome, error code, channel type), and
their ``event_id`` is a hash of (run, endpoint, step, event type): writing them again after a
crash adds nothing, because ingest is idempotent on ``event_id``. A row's ``events_at`` is set
once its events reached the lake; a resumed run re-emits rows where it is still empty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

EVENT_COLUMNS = (
    "event_id", "event_type", "event_timestamp", "arrival_timestamp", "endpoint_id", "user_id",
    "session_id", "app_id", "channel_type", "campaign_id", "run_id", "treatment_id",
    "journey_id", "attributes", "metrics",
)  # fmt: skip

_PUSH_TYPES = {"APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "GCM", "BAIDU", "ADM"}

#: campaign_send_status of ``_campaign.send`` for local outcomes (Pinpoint's vocabulary)
_SEND_STATUS = {
    "SUPPRESSED": "SUPPRESSED",
    "OPTED_OUT": "OPT_OUT",
    "RENDERING_FAILURE": "FAILURE_PERMANENT",
    "SANDBOX_UNVERIFIED": "FAILURE_PERMANENT",
    "THROTTLED": "THROTTLED",
    "IN_DOUBT": "UNKNOWN_FAILURE",
}


def event_id(run_id: str, endpoint_id: str, step: str, event_type: str) -> str:
    raw = f"{run_id}\x1f{endpoint_id}\x1f{step}\x1f{event_type}".encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def event_types(channel_type: str, status: str, outcome: str | None, code: str | None) -> list[str]:
    """The event types one completed ledger row produces, after ``_campaign.send``."""
    if status == "skipped":
        return []
    if code == "RENDERING_FAILURE":
        return ["_email.rendering_failure"] if channel_type == "EMAIL" else []
    if channel_type == "EMAIL":
        if status == "sent":
            tail = {
                "complaint": ["_email.delivered", "_email.complaint"],
                "softbounce": ["_email.softbounce"],
                "accepted": [],  # the provider reports delivery later (SES event destination)
            }.get(outcome or "", ["_email.delivered"])
            return ["_email.send", *tail]
        if outcome == "hardbounce":
            return ["_email.send", "_email.hardbounce"]
        if outcome == "softbounce":
            return ["_email.send", "_email.softbounce"]
        return ["_email.rejected"]
    if channel_type in ("SMS", "VOICE"):
        prefix = "_SMS" if channel_type == "SMS" else "_VOICE"
        if status == "sent":
            if outcome == "buffered":  # accepted; the carrier's receipt arrives later
                return [f"{prefix}.BUFFERED"]
            return [f"{prefix}.BUFFERED", f"{prefix}.SUCCESS"]
        if outcome == "optout":
            return [f"{prefix}.OPTOUT"]
        return [f"{prefix}.FAILURE"]
    if channel_type in _PUSH_TYPES or channel_type == "PUSH":
        return ["_push.send"] if status == "sent" else ["_push.failure"]
    return ["_custom.send"] if status == "sent" else ["_custom.failure"]


def campaign_send_status(status: str, code: str | None) -> str:
    if status == "sent":
        return "SUCCESS"
    if code in _SEND_STATUS:
        return _SEND_STATUS[code]
    return "FAILURE_PERMANENT" if status == "failed" else "UNKNOWN_FAILURE"


def ledger_events(rows: Iterable[Mapping[str, Any]], now: pd.Timestamp) -> pd.DataFrame:
    """Events (the contract's flat columns) for completed ledger rows (dicts or sqlite Rows).

    ``attributes`` and ``metrics`` are Arrow map columns, so the lake ingests them vectorized.
    """
    per_row: dict[str, list[Any]] = {
        k: [] for k in ("endpoint_id", "user_id", "channel_type", "campaign_id", "run_id",
                        "treatment_id", "metrics")
    }  # fmt: skip
    ids: list[str] = []
    types: list[str] = []
    stamps: list[Any] = []
    attributes: list[Any] = []
    repeat: list[int] = []
    types_cache: dict[tuple[Any, ...], list[str]] = {}
    for r in rows:
        run_id, endpoint_id, step = r["run_id"], r["endpoint_id"], r["step"]
        status, outcome, code = r["status"], r["outcome"], r["error_code"]
        ctype = r["channel_type"] or "EMAIL"
        key = (ctype, status, outcome, code)
        etypes = types_cache.get(key)
        if etypes is None:
            etypes = types_cache[key] = event_types(*key)
        sent = r["sent_at"] or r["updated_at"]
        attrs = [("channel", r["channel"] or ""), ("step", step)]
        if r["message_id"]:
            attrs.append(("message_id", r["message_id"]))
        if code:
            attrs.append(("error_code", code))
        if outcome:
            attrs.append(("outcome", outcome))
        prefix = f"{run_id}\x1f{endpoint_id}\x1f{step}\x1f"
        ids.append(_hash(prefix + "_campaign.send"))
        types.append("_campaign.send")
        stamps.append(r["claimed_at"] or r["updated_at"])
        attributes.append([*attrs, ("campaign_send_status", campaign_send_status(status, code))])
        for etype in etypes:
            ids.append(_hash(prefix + etype))
            types.append(etype)
            stamps.append(sent)
            attributes.append(attrs)
        repeat.append(1 + len(etypes))
        per_row["endpoint_id"].append(endpoint_id)
        per_row["user_id"].append(r["user_id"])
        per_row["channel_type"].append(ctype)
        per_row["campaign_id"].append(r["campaign"])
        per_row["run_id"].append(run_id)
        per_row["treatment_id"].append(r["treatment"])
        per_row["metrics"].append([("cost", float(r["cost"]))] if r["cost"] else [])
    n = len(ids)
    counts = np.asarray(repeat, dtype=np.int64)
    data: dict[str, Any] = {"event_id": pd.Series(ids, dtype="string"),
                            "event_type": pd.Series(types, dtype="string")}  # fmt: skip
    stamp_index = pd.to_datetime(pd.Series(stamps, dtype=object), utc=True, format="ISO8601")
    data["event_timestamp"] = stamp_index.astype("datetime64[us, UTC]")
    data["arrival_timestamp"] = pd.Series(
        np.repeat(np.datetime64(now.tz_convert("UTC").tz_localize(None), "us"), n)
    ).dt.tz_localize("UTC")
    for name in ("endpoint_id", "user_id"):
        data[name] = pd.Series(np.repeat(np.asarray(per_row[name], dtype=object), counts),
                               dtype="string")  # fmt: skip
    data["session_id"] = pd.Series([None] * n, dtype="string")
    data["app_id"] = pd.Series([None] * n, dtype="string")
    for name in ("channel_type", "campaign_id", "run_id", "treatment_id"):
        data[name] = pd.Series(np.repeat(np.asarray(per_row[name], dtype=object), counts),
                               dtype="string")  # fmt: skip
    data["journey_id"] = pd.Series([None] * n, dtype="string")
    data["attributes"] = pd.arrays.ArrowExtensionArray(
        pa.array(attributes, type=pa.map_(pa.string(), pa.string()))
    )
    metrics = [m for m, k in zip(per_row["metrics"], repeat, strict=True) for _ in range(k)]
    data["metrics"] = pd.arrays.ArrowExtensionArray(
        pa.array(metrics, type=pa.map_(pa.string(), pa.float64()))
    )
    return pd.DataFrame({c: data[c] for c in EVENT_COLUMNS})


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def append_events(project: Any, events: pd.DataFrame) -> int:
    """Write delivery events to the project's event lake (idempotent on event_id)."""
    if events.empty:
        return 0
    from engagekit.events import append_events as append

    append(project, events)
    return len(events)
