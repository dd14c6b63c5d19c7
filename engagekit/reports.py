"""Small building blocks the report notebooks call (logic stays in the package).

>>> from engagekit.reports import mask_address
>>> mask_address("ada.lovelace@example.com")
'a***@example.com'
"""

from __future__ import annotations

import pandas as pd

from engagekit.project import Project


def mask_address(address: object) -> str:
    """Hide an address: keep the first character and the e-mail domain or the last 2 digits."""
    text = "" if address is None or address is pd.NA else str(address)
    if not text:
        return ""
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{text[:1]}***{text[-2:]}" if len(text) > 4 else "***"


def hide_personal_data(frame: pd.DataFrame, *, show: bool = False) -> pd.DataFrame:
    """A copy with addresses, names and user ids masked unless ``show``."""
    if show:
        return frame
    out = frame.copy()
    for col in out.columns:
        name = str(col)
        if name in {"address", "Address"}:
            out[col] = out[col].map(mask_address)
        elif name.startswith("User.UserAttributes.") or name in {"user_id", "User.UserId"}:
            out[col] = "***"
    return out


def campaign_summary(project: Project, campaign: str) -> pd.DataFrame:
    """One row per arm of a saved campaign: name, template, planned share, schedule."""
    from engagekit import campaigns as cmp

    c = cmp.load_campaign(project, campaign)
    rows = []
    for i, (t, size) in enumerate(zip(c.treatments, c.sizes(), strict=True)):
        ref = t.template_for(c.channel)
        rows.append(
            {
                "arm": str(i),
                "treatment": t.name or f"treatment {i}",
                "template": f"{ref.name} v{ref.version}"
                if ref and ref.version
                else getattr(ref, "name", ""),
                "planned share %": size,
            }
        )
    if c.holdout_percent:
        rows.append(
            {"arm": "holdout", "treatment": "holdout (no message)", "template": "",
             "planned share %": c.holdout_percent}
        )  # fmt: skip
    table = pd.DataFrame(rows).set_index("arm")
    table.attrs["title"] = (
        f"{c.name}: {c.channel}, segment {c.segment}"
        f"{' v' + str(c.segment_version) if c.segment_version else ''}, "
        f"{c.schedule.frequency} from {c.schedule.start_time}"
    )
    return table


def allocation_check(project: Project, campaign: str):
    """Sample-ratio-mismatch check of every saved plan of the campaign against its design."""
    from engagekit import campaigns as cmp

    plans = cmp.load_plans(project, campaign)
    return cmp.allocation_check(plans, cmp.load_campaign(project, campaign))
