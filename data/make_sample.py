"""Rebuild the committed sample files: ``python data/make_sample.py``.

* ``sample_endpoints.csv``: 3,000 generated endpoints (seed 2026) in Pinpoint CSV, the same
  bytes as ``engagekit generate-data --rows 3000 --seed 2026 --out data/sample_endpoints.csv``.
* ``bad_endpoints.csv``: one row per validation rule (see ``data/README.md``), between good
  rows; ``BAD_ROWS`` below is the table the README and the tests follow.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from engagekit.sample import write_sample

HERE = Path(__file__).resolve().parent
ROWS = 3_000
SEED = 2026

COLUMNS = [
    "Id",
    "ChannelType",
    "Address",
    "EndpointStatus",
    "OptOut",
    "EffectiveDate",
    "CreationDate",
    "Location.Latitude",
    "Location.Longitude",
    "Location.City",
    "Location.Country",
    "Demographic.Timezone",
    "Demographic.Locale",
    "User.UserId",
    "Attributes.plan",
    "Metrics.visits",
]

GOOD = {
    "ChannelType": "EMAIL",
    "EffectiveDate": "2026-10-01T09:00:00Z",
    "Location.Country": "US",
    "Demographic.Timezone": "America/New_York",
    "Demographic.Locale": "en_US",
    "Attributes.plan": "pro",
    "Metrics.visits": "3",
}

# (Id, the field that is wrong, overrides of the good row, the reason's key words)
BAD_ROWS: list[tuple[str, str, dict[str, str], str]] = [
    ("bad-channel", "ChannelType", {"ChannelType": "FAX"}, "is not one of"),
    ("bad-no-channel", "Address", {"ChannelType": ""}, "needs Address and ChannelType"),
    ("bad-no-address", "Address", {"Address": ""}, "needs Address and ChannelType"),
    ("", "Address", {"Address": ""}, "needs Address and ChannelType"),
    ("bad-email", "Address", {"Address": "ada.example.com"}, "not a valid email address"),
    ("bad-email-domain", "Address", {"Address": "ada@example"}, "not a valid email address"),
    ("bad-phone", "Address", {"ChannelType": "SMS", "Address": "+1555"}, "not a valid phone"),
    ("bad-phone-text", "Address", {"ChannelType": "SMS", "Address": "call me"}, "not a phone"),
    (
        "bad-phone-no-country",
        "Address",
        {"ChannelType": "SMS", "Address": "2125550123", "Location.Country": ""},
        "no valid Location.Country",
    ),
    (
        "bad-phone-in-country",
        "Address",
        {"ChannelType": "VOICE", "Address": "12345", "Location.Country": "GB"},
        "not a valid phone number in GB",
    ),
    ("bad-country", "Location.Country", {"Location.Country": "UK"}, "is not one of"),
    ("bad-timezone", "Demographic.Timezone", {"Demographic.Timezone": "Eastern Time"}, "IANA"),
    ("bad-locale", "Demographic.Locale", {"Demographic.Locale": "english"}, "not a locale"),
    ("bad-metric", "Metrics.visits", {"Metrics.visits": "lots"}, "not a number"),
    ("bad-metric-nan", "Metrics.visits", {"Metrics.visits": "NaN"}, "not a finite number"),
    ("bad-latitude", "Location.Latitude", {"Location.Latitude": "123.4"}, "outside [-90, 90]"),
    ("bad-longitude", "Location.Longitude", {"Location.Longitude": "east"}, "not a number"),
    ("bad-date", "EffectiveDate", {"EffectiveDate": "03/11/2026"}, "ISO 8601"),
    ("bad-date-value", "CreationDate", {"CreationDate": "2026-13-45"}, "ISO 8601"),
    ("bad-status", "EndpointStatus", {"EndpointStatus": "DELETED"}, "is not one of"),
    ("bad-optout", "OptOut", {"OptOut": "YES"}, "is not one of"),
    (
        "bad-attr-long",
        "Attributes.plan",
        {"Attributes.plan": "p" * 101},
        "a value longer than 100 characters",
    ),
    (
        "bad-attr-many",
        "Attributes.plan",
        {"Attributes.plan": json.dumps([f"v{i}" for i in range(51)])},
        "more than 50 values",
    ),
    ("bad-attr-json", "Attributes.plan", {"Attributes.plan": "[pro, free"}, "JSON array"),
    ("bad-user-huge", "User.UserId", {"User.UserId": "u" * 300}, "longer than 256"),
    ("bad-city-huge", "Location.City", {"Location.City": "C" * 5000}, "longer than 256"),
    (
        "bad-token-huge",
        "Address",
        {"ChannelType": "APNS", "Address": "t" * 2000},
        "longer than 1024",
    ),
]


def _row(endpoint_id: str, **values: str) -> list[str]:
    row = {**GOOD, "Id": endpoint_id, "Address": f"{endpoint_id or 'x'}@example.com", **values}
    return [row.get(c, "") for c in COLUMNS]


def write_bad(path: Path) -> None:
    """Good rows, one bad row per rule, a malformed record, the 11th endpoint of a user and a
    shared address (which deactivates rather than rejects)."""
    rows: list[list[str]] = [_row("good-1"), _row("good-2")]
    for endpoint_id, _, overrides, _ in BAD_ROWS:
        rows.append(_row(endpoint_id, **overrides))
    rows.append([*_row("bad-extra-field"), "surplus"])
    for i in range(11):  # the 11th endpoint of one user is rejected
        rows.append(_row(f"heavy-{i}", **{"User.UserId": "heavy-user"}))
    rows.append(_row("dup-old", Address="shared@example.com", EffectiveDate="2026-01-01T00:00:00Z"))
    rows.append(_row("dup-new", Address="shared@example.com", EffectiveDate="2026-02-01T00:00:00Z"))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def main() -> None:
    write_sample(HERE / "sample_endpoints.csv", ROWS, seed=SEED)
    write_bad(HERE / "bad_endpoints.csv")
    print(f"wrote {HERE / 'sample_endpoints.csv'} and {HERE / 'bad_endpoints.csv'}")


if __name__ == "__main__":
    main()
