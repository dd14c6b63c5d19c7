"""Hand-made campaign plans (the contract's columns) and a renderer, for delivery tests."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def plan_for(
    addresses: Sequence[str],
    *,
    run_id: str = "run-1",
    campaign: str = "spring",
    channel_type: str = "EMAIL",
    treatment_id: str | Sequence[str] = "0",
    endpoint_prefix: str = "ep-",
    **extra: object,
) -> pd.DataFrame:
    """One scheduled row per address, as ``campaigns.plan_campaign`` would produce it."""
    n = len(addresses)
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "campaign": campaign,
            "campaign_version": 1,
            "treatment_id": treatment_id if isinstance(treatment_id, str) else list(treatment_id),
            "holdout": False,
            "endpoint_id": [f"{endpoint_prefix}{i}" for i in range(n)],
            "user_id": [f"u-{i}" for i in range(n)],
            "channel_type": channel_type,
            "address": list(addresses),
            "template": "welcome",
            "template_version": 1,
            "due_at": pd.Timestamp("2026-01-01", tz="UTC"),
            "timezone": "UTC",
            "status": "scheduled",
            "reason": pd.Series([pd.NA] * n, dtype="string"),
            "step": "send",
        }
    )
    for key, value in extra.items():
        frame[key] = value
    return frame


def render(batch: pd.DataFrame) -> pd.DataFrame:
    """Message parts personalized with the user id, for every channel's shape."""
    user = batch["user_id"].astype(str)
    return pd.DataFrame(
        {
            "Subject": "Hello " + user,
            "TextPart": "Hi " + user + ",\nwelcome.",
            "HtmlPart": "<p>Hi " + user + "</p>",
            "Body": "Hello " + user,
        },
        index=batch.index,
    )
