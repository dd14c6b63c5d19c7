"""A reproducible generator of realistic endpoint data, from 1k to 10M endpoints.

Same ``(n, seed, as_of)`` gives the same frame, row for row. Users own 1–3 endpoints (email,
SMS, push) and share user attributes; countries come with their time zones, cities, coordinates
and phone formats; a few percent opted out; about 1% of addresses are duplicated across
endpoints (as real imports are).

    >>> from engagekit.sample import generate_endpoints
    >>> df = generate_endpoints(1_000, seed=7)
    >>> len(df)
    1000
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from engagekit.endpoints import LIST_DTYPE, normalize_endpoints

DEFAULT_AS_OF = "2026-11-01T00:00:00Z"

# city, region, country, time zone, latitude, longitude, locale, mobile prefix, weight
# (a mobile prefix padded with random digits to PHONE_LENGTH is valid for phonenumbers)
CITIES: list[tuple[str, str, str, str, float, float, str, str, float]] = [
    ("New York", "NY", "US", "America/New_York", 40.7128, -74.0060, "en_US", "+12125", 9),
    ("Los Angeles", "CA", "US", "America/Los_Angeles", 34.0522, -118.2437, "en_US", "+12135", 7),
    ("Chicago", "IL", "US", "America/Chicago", 41.8781, -87.6298, "en_US", "+13125", 5),
    ("Denver", "CO", "US", "America/Denver", 39.7392, -104.9903, "en_US", "+13035", 3),
    ("Toronto", "ON", "CA", "America/Toronto", 43.6532, -79.3832, "en_CA", "+14165", 4),
    ("London", "ENG", "GB", "Europe/London", 51.5074, -0.1278, "en_GB", "+447400", 8),
    ("Manchester", "ENG", "GB", "Europe/London", 53.4808, -2.2426, "en_GB", "+4479110", 3),
    ("Berlin", "BE", "DE", "Europe/Berlin", 52.5200, 13.4050, "de_DE", "+49151", 6),
    ("Munich", "BY", "DE", "Europe/Berlin", 48.1351, 11.5820, "de_DE", "+49152", 4),
    ("Paris", "IDF", "FR", "Europe/Paris", 48.8566, 2.3522, "fr_FR", "+3360", 6),
    ("Madrid", "MD", "ES", "Europe/Madrid", 40.4168, -3.7038, "es_ES", "+346", 4),
    ("Amsterdam", "NH", "NL", "Europe/Amsterdam", 52.3676, 4.9041, "nl_NL", "+3161", 3),
    ("São Paulo", "SP", "BR", "America/Sao_Paulo", -23.5505, -46.6333, "pt_BR", "+55119", 5),
    ("Mexico City", "CMX", "MX", "America/Mexico_City", 19.4326, -99.1332, "es_MX", "+5255", 4),
    ("Mumbai", "MH", "IN", "Asia/Kolkata", 19.0760, 72.8777, "en_IN", "+9198", 6),
    ("Tokyo", "13", "JP", "Asia/Tokyo", 35.6762, 139.6503, "ja_JP", "+81901", 5),
    ("Sydney", "NSW", "AU", "Australia/Sydney", -33.8688, 151.2093, "en_AU", "+6141", 4),
    ("Auckland", "AUK", "NZ", "Pacific/Auckland", -36.8485, 174.7633, "en_NZ", "+6421", 1),
    ("Johannesburg", "GP", "ZA", "Africa/Johannesburg", -26.2041, 28.0473, "en_ZA", "+2771", 2),
    ("Singapore", "SG", "SG", "Asia/Singapore", 1.3521, 103.8198, "en_SG", "+6581", 2),
]
# digits of a full E.164 number per country (without the +)
PHONE_LENGTH = {"US": 11, "CA": 11, "GB": 12, "DE": 13, "FR": 11, "ES": 11, "NL": 11, "BR": 13,
                "MX": 12, "IN": 12, "JP": 12, "AU": 11, "NZ": 11, "ZA": 11, "SG": 10}  # fmt: skip
FIRST_NAMES = np.array(
    [
        "Ada",
        "Alan",
        "Grace",
        "Linus",
        "Margaret",
        "Ken",
        "Barbara",
        "Dennis",
        "Frances",
        "Tim",
        "Radia",
        "Vint",
        "Hedy",
        "Edsger",
        "Anita",
        "Donald",
        "Katherine",
        "John",
        "Mary",
        "Guido",
        "Yukihiro",
        "Sophie",
        "Bjarne",
        "Adele",
        "Leslie",
        "Niklaus",
        "Shafi",
        "Whitfield",
        "Lynn",
        "Ivan",
        "Jean",
        "Fran",
        "Carol",
        "Ole",
        "Kristen",
        "Erna",
        "Ward",
        "Cynthia",
        "Hal",
        "Dana",
    ]
)
LAST_NAMES = np.array(
    [
        "Lovelace",
        "Turing",
        "Hopper",
        "Torvalds",
        "Hamilton",
        "Thompson",
        "Liskov",
        "Ritchie",
        "Allen",
        "Berners-Lee",
        "Perlman",
        "Cerf",
        "Lamarr",
        "Dijkstra",
        "Borg",
        "Knuth",
        "Johnson",
        "McCarthy",
        "Keller",
        "Rossum",
        "Matsumoto",
        "Wilson",
        "Stroustrup",
        "Goldberg",
        "Lamport",
        "Wirth",
        "Goldwasser",
        "Diffie",
        "Conway",
        "Sutherland",
        "Sammet",
        "Bilas",
        "Shaw",
        "Dahl",
        "Nygaard",
        "Hoover",
        "Cunningham",
        "Dwork",
        "Abelson",
        "Scott",
    ]
)
PLANS = np.array(["free", "starter", "pro", "enterprise"])
PLAN_WEIGHTS = np.array([0.55, 0.2, 0.2, 0.05])
INTERESTS = np.array(["running", "cycling", "yoga", "hiking", "swimming", "tennis", "climbing"])
SOURCES = np.array(["organic", "paid_search", "social", "referral", "email"])
# platform, make, model, weight
DEVICES = [
    ("iOS", "Apple", "iPhone15,2", 0.35),
    ("iOS", "Apple", "iPhone16,1", 0.15),
    ("Android", "Samsung", "SM-S918B", 0.2),
    ("Android", "Google", "Pixel 8", 0.12),
    ("Android", "Xiaomi", "2201117TG", 0.08),
    ("Web", "Browser", "Chrome", 0.1),
]
PLATFORM_VERSIONS = {"iOS": ("17.6", "18.1", "18.2"), "Android": ("13", "14", "15"),
                     "Web": ("130.0", "131.0")}  # fmt: skip
APP_VERSIONS = np.array(["3.1.0", "3.2.0", "3.2.1", "3.3.0", "4.0.0"])
EMAIL_DOMAINS = np.array(["example.com", "example.org", "example.net", "mail.example.com"])


def generate_endpoints(
    n: int,
    seed: int = 0,
    *,
    as_of: str | datetime = DEFAULT_AS_OF,
    opt_out_rate: float = 0.03,
    duplicate_rate: float = 0.01,
    inactive_rate: float = 0.02,
    start: int = 0,
) -> pd.DataFrame:
    """Generate ``n`` endpoints (normalized dtypes) for ``n / 1.6`` users, reproducibly.

    ``start`` offsets endpoint and user numbers, so chunks generated with different seeds and
    starts (see :func:`write_sample`) never share an Id.
    """
    rng = np.random.default_rng(seed)
    as_of_ts = pd.Timestamp(as_of)
    as_of_ts = (
        as_of_ts.tz_localize("UTC") if as_of_ts.tzinfo is None else as_of_ts.tz_convert("UTC")
    )

    # users own 1..3 endpoints: assign endpoint -> user by sorted draws
    # users own 1-3 endpoints (1.6 on average); user numbers start at `start` too, so chunks
    # never share a user
    user_start = start
    per_user = 1 + rng.choice(3, size=n + 1, p=[0.55, 0.30, 0.15])
    user_idx = np.repeat(np.arange(len(per_user)), per_user)[:n]
    n_users = int(user_idx[-1]) + 1 if n else 1
    rank_in_user = _rank_within(user_idx)

    # channel: first endpoint of a user is EMAIL, second SMS, third push (APNS or GCM)
    channel = np.where(rank_in_user == 0, "EMAIL", np.where(rank_in_user == 1, "SMS", "PUSH"))

    # per-user draws, broadcast to endpoints
    city_w = np.array([c[8] for c in CITIES], dtype=float)
    u_city = rng.choice(len(CITIES), size=n_users, p=city_w / city_w.sum())
    u_first = rng.integers(0, len(FIRST_NAMES), size=n_users)
    u_last = rng.integers(0, len(LAST_NAMES), size=n_users)
    u_plan = rng.choice(len(PLANS), size=n_users, p=PLAN_WEIGHTS)
    u_device = rng.choice(len(DEVICES), size=n_users, p=[d[3] for d in DEVICES])
    u_domain = rng.integers(0, len(EMAIL_DOMAINS), size=n_users)
    city = u_city[user_idx]
    dev = u_device[user_idx]
    platform = np.array([d[0] for d in DEVICES])[dev]
    channel = np.where(channel == "PUSH", np.where(platform == "iOS", "APNS", "GCM"), channel)

    cities = np.array([c[0] for c in CITIES])
    regions = np.array([c[1] for c in CITIES])
    countries = np.array([c[2] for c in CITIES])
    zones = np.array([c[3] for c in CITIES])
    lats = np.array([c[4] for c in CITIES])
    lons = np.array([c[5] for c in CITIES])
    locales = np.array([c[6] for c in CITIES])
    prefixes = np.array([c[7] for c in CITIES])

    user_ids = _ids("user-", user_start + np.arange(n_users))[user_idx]
    endpoint_ids = _ids("ep-", start + np.arange(n))
    first = FIRST_NAMES[u_first][user_idx]
    last = LAST_NAMES[u_last][user_idx]

    email = (
        pd.Series(first).str.lower()
        + "."
        + pd.Series(last).str.lower().str.replace("-", "", regex=False)
        + pd.Series((user_idx + user_start).astype(str))
        + "@"
        + pd.Series(EMAIL_DOMAINS[u_domain][user_idx])
    )
    width = np.array([PHONE_LENGTH[c[2]] - len(c[7]) + 1 for c in CITIES])[city]
    drawn = rng.integers(0, 10**8, size=n) % (10**width)
    digits = np.empty(n, dtype=object)
    for w in np.unique(width):
        rows = width == w
        digits[rows] = pd.Series(drawn[rows]).astype(str).str.zfill(int(w)).to_numpy()
    phone = pd.Series(prefixes[city]) + pd.Series(digits)
    token = pd.Series(_ids("tok", rng.integers(0, 2**62, size=n, dtype=np.int64)))
    address = np.where(channel == "EMAIL", email, np.where(channel == "SMS", phone, token))

    # duplicate addresses: some endpoints reuse the address of an earlier one of the same channel
    dup = rng.random(n) < duplicate_rate
    email_rows = np.flatnonzero(channel == "EMAIL")
    if dup.any() and len(email_rows) > 1:
        targets = np.flatnonzero(dup & (channel == "EMAIL"))
        address[targets] = address[rng.choice(email_rows, size=len(targets))]

    jitter_lat = rng.normal(0, 0.08, size=n)
    jitter_lon = rng.normal(0, 0.08, size=n)
    created_ago = rng.integers(30 * 86400, 720 * 86400, size=n)
    effective_ago = np.minimum((rng.exponential(10, size=n) * 86400).astype(np.int64), created_ago)
    base = as_of_ts.value // 1_000  # microseconds
    created = pd.to_datetime(base - created_ago * 1_000_000, unit="us", utc=True)
    effective = pd.to_datetime(base - effective_ago * 1_000_000, unit="us", utc=True)

    opted = rng.random(n) < opt_out_rate
    inactive = rng.random(n) < inactive_rate

    n_interests = rng.integers(0, 4, size=n_users)
    offsets = np.concatenate([[0], np.cumsum(n_interests)])
    interest_values = INTERESTS[rng.integers(0, len(INTERESTS), size=int(offsets[-1]))]
    u_interests = pa.ListArray.from_arrays(
        pa.array(offsets, type=pa.int32()), pa.array(interest_values, type=pa.string())
    )
    interests = u_interests.take(pa.array(user_idx))

    frame = pd.DataFrame(
        {
            "Id": endpoint_ids,
            "ChannelType": channel,
            "Address": address,
            "EndpointStatus": np.where(inactive, "INACTIVE", "ACTIVE"),
            "OptOut": np.where(opted, "ALL", "NONE"),
            "EffectiveDate": effective,
            "CreationDate": created,
            "Location.Latitude": np.round(lats[city] + jitter_lat, 5),
            "Location.Longitude": np.round(lons[city] + jitter_lon, 5),
            "Location.PostalCode": rng.integers(10000, 99999, size=n).astype(str),
            "Location.City": cities[city],
            "Location.Region": regions[city],
            "Location.Country": countries[city],
            "Demographic.Make": np.array([d[1] for d in DEVICES])[dev],
            "Demographic.Model": np.array([d[2] for d in DEVICES])[dev],
            "Demographic.Timezone": zones[city],
            "Demographic.Locale": locales[city],
            "Demographic.AppVersion": APP_VERSIONS[rng.integers(0, len(APP_VERSIONS), size=n)],
            "Demographic.Platform": platform,
            "Demographic.PlatformVersion": _platform_versions(platform, rng),
            "Demographic.ModelVersion": _model_versions(platform),
            "User.UserId": user_ids,
            "Attributes.plan": PLANS[u_plan][user_idx],
            "Attributes.interests": pd.arrays.ArrowExtensionArray(interests),
            "Attributes.signup_source": SOURCES[rng.integers(0, len(SOURCES), size=n)],
            "Metrics.visits": rng.poisson(6, size=n).astype(float),
            "Metrics.purchases": rng.poisson(0.8, size=n).astype(float),
            "Metrics.lifetime_value": np.round(rng.gamma(2.0, 40.0, size=n), 2),
            "User.UserAttributes.FirstName": first,
            "User.UserAttributes.LastName": last,
        }
    )
    for col in (
        "Attributes.plan",
        "Attributes.signup_source",
        "User.UserAttributes.FirstName",
        "User.UserAttributes.LastName",
    ):
        frame[col] = _scalar_list(frame[col].to_numpy())
    return normalize_endpoints(frame)


def _model_versions(platform: np.ndarray) -> np.ndarray:
    out = np.full(len(platform), "1.0", dtype=object)
    out[platform == "Web"] = None  # browsers have no hardware model version
    return out


def _platform_versions(platform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    draw = rng.integers(0, 3, size=len(platform))
    out = np.empty(len(platform), dtype=object)
    for name, versions in PLATFORM_VERSIONS.items():
        rows = platform == name
        out[rows] = np.array(versions)[draw[rows] % len(versions)]
    return out


def _ids(prefix: str, numbers: np.ndarray) -> np.ndarray:
    return (prefix + pd.Series(numbers).astype(str).str.zfill(8)).to_numpy()


def _rank_within(sorted_groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, … within each run of equal values of a sorted array."""
    n = len(sorted_groups)
    starts = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]] if n else np.array([], bool)
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - start_pos


def _scalar_list(values: np.ndarray) -> pd.arrays.ArrowExtensionArray:
    """One-item lists from a string array, built without a Python loop."""
    arr = pa.array(values.astype(str), type=pa.string())
    offsets = pa.array(np.arange(len(values) + 1, dtype=np.int32))
    return pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, arr))


def write_sample(
    path: str | Path,
    rows: int,
    seed: int = 0,
    *,
    format: str | None = None,
    as_of: str | datetime = DEFAULT_AS_OF,
    chunk_rows: int = 500_000,
    progress: bool = False,
) -> Path:
    """Write ``rows`` generated endpoints as Pinpoint CSV or NDJSON, in chunks (10M rows fit in
    memory one chunk at a time). The same arguments give the same file, byte for byte.

        >>> write_sample("endpoints.csv", 1_000_000, seed=42, progress=True)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from engagekit.endpoints._export import _csv_bytes, _ndjson_bytes, _pick_format
    from engagekit.endpoints._frame import frame_to_table

    path = Path(path)
    fmt = _pick_format(str(path), format)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with (
        open(tmp, "wb") as out,
        tqdm(total=rows, unit="rows", desc=f"generate {path.name}", disable=not progress) as bar,
    ):
        for k, first in enumerate(range(0, rows, chunk_rows)):
            n = min(chunk_rows, rows - first)
            chunk = generate_endpoints(n, seed=seed * 1_000_003 + k, as_of=as_of, start=first)
            table = frame_to_table(chunk)
            if fmt == "csv":
                out.write(_csv_bytes(table, header=k == 0))
            else:
                out.write(_ndjson_bytes(table))
            bar.update(n)
    tmp.replace(path)
    return path


__all__ = ["DEFAULT_AS_OF", "LIST_DTYPE", "generate_endpoints", "write_sample"]
