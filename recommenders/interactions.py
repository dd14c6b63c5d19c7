"""Interactions: a tidy frame of (user, item, weight, timestamp) and its sparse matrix.

Interactions come from a DataFrame (column names given as ``col_*`` keywords, as in
microsoft/recommenders) or from engagekit's event lake through :func:`interactions_from_events`.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]})
    >>> data = InteractionMatrix.from_frame(frame)
    >>> data.matrix.shape
    (2, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recommenders._errors import InteractionsError

DEFAULT_USER_COL = "user_id"
DEFAULT_ITEM_COL = "item_id"
DEFAULT_WEIGHT_COL = "weight"
DEFAULT_TIMESTAMP_COL = "timestamp"

#: Default weights of event types when reading interactions from the event lake.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {"_monetization.purchase": 1.0}


@dataclass(frozen=True)
class InteractionMatrix:
    """A users × items CSR matrix of summed weights with the ids of its rows and columns."""

    matrix: sp.csr_matrix
    users: pd.Index
    items: pd.Index
    first_timestamp: pd.Timestamp | None = None
    last_timestamp: pd.Timestamp | None = None
    n_interactions: int = 0

    @classmethod
    def from_frame(
        cls,
        interactions: pd.DataFrame,
        *,
        col_user: str = DEFAULT_USER_COL,
        col_item: str = DEFAULT_ITEM_COL,
        col_weight: str | None = DEFAULT_WEIGHT_COL,
        col_timestamp: str | None = DEFAULT_TIMESTAMP_COL,
    ) -> InteractionMatrix:
        """Build the matrix; duplicate (user, item) pairs add up their weights.

        A missing weight column counts every row as 1 when the default name was used; a
        column named explicitly must exist.
        """
        if not isinstance(interactions, pd.DataFrame):
            raise InteractionsError(
                f"interactions must be a pandas DataFrame, got {type(interactions).__name__}; "
                "build one with columns (user, item[, weight, timestamp]) or use "
                "recommenders.interactions_from_events(events)"
            )
        needed = [col_user, col_item]
        if col_weight is not None and col_weight != DEFAULT_WEIGHT_COL:
            needed.append(col_weight)
        missing = [c for c in needed if c not in interactions.columns]
        if missing:
            raise InteractionsError(
                f"interactions lack column(s) {missing}; found {list(interactions.columns)}. "
                "Pass the names with col_user=, col_item=, col_weight=",
                missing=missing,
                columns=list(interactions.columns),
            )
        if len(interactions) == 0:
            raise InteractionsError("interactions are empty: there is nothing to learn from")
        users_raw = interactions[col_user]
        items_raw = interactions[col_item]
        if users_raw.isna().any() or items_raw.isna().any():
            raise InteractionsError(
                f"{col_user!r} and {col_item!r} must not be missing; drop those rows first"
            )
        user_codes, users = pd.factorize(users_raw, sort=True)
        item_codes, items = pd.factorize(items_raw, sort=True)
        if col_weight is not None and col_weight in interactions.columns:
            weights = pd.to_numeric(interactions[col_weight], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            if not np.isfinite(weights).all() or (weights < 0).any():
                raise InteractionsError(
                    f"column {col_weight!r} must hold finite, non-negative numbers"
                )
        else:
            weights = np.ones(len(interactions), dtype=np.float64)
        matrix = sp.csr_matrix(
            (
                weights.astype(np.float32),
                (user_codes.astype(np.int32), item_codes.astype(np.int32)),
            ),
            shape=(len(users), len(items)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        first = last = None
        if col_timestamp is not None and col_timestamp in interactions.columns:
            ts = _as_utc(interactions[col_timestamp])
            first, last = ts.min(), ts.max()
        return cls(
            matrix=matrix,
            users=pd.Index(users),
            items=pd.Index(items),
            first_timestamp=None if pd.isna(first) else first,
            last_timestamp=None if pd.isna(last) else last,
            n_interactions=len(interactions),
        )


def _as_utc(values: pd.Series) -> pd.Series:
    """Timestamps as UTC datetimes; integers are read as unix seconds."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return pd.to_datetime(values, unit="s", utc=True)
    return pd.to_datetime(values, utc=True)


def decay_weights(
    interactions: pd.DataFrame,
    half_life: str | pd.Timedelta = "30D",
    *,
    now: Any = None,
    col_weight: str = DEFAULT_WEIGHT_COL,
    col_timestamp: str = DEFAULT_TIMESTAMP_COL,
) -> pd.DataFrame:
    """A copy whose weights halve every ``half_life`` of age, so recent interactions count more.

    Age is measured from ``now`` (default: the latest timestamp); a missing weight column
    counts as 1.

        >>> frame = pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2], "timestamp":
        ...     pd.to_datetime(["2026-01-01", "2026-01-31"], utc=True)})
        >>> decay_weights(frame, "30D")["weight"].tolist()
        [0.5, 1.0]
    """
    if col_timestamp not in interactions.columns:
        raise InteractionsError(
            f"decay_weights needs the timestamp column {col_timestamp!r}",
            missing=[col_timestamp],
            columns=list(interactions.columns),
        )
    half = pd.Timedelta(half_life)
    if half <= pd.Timedelta(0):
        raise InteractionsError(f"half_life must be positive, got {half_life!r}")
    ts = _as_utc(interactions[col_timestamp])
    ref = ts.max() if now is None else pd.Timestamp(now)
    if ref.tzinfo is None:
        ref = ref.tz_localize("UTC")
    age = (ref - ts).dt.total_seconds().clip(lower=0).to_numpy()
    base = (
        pd.to_numeric(interactions[col_weight]).to_numpy(dtype=np.float64)
        if col_weight in interactions.columns
        else np.ones(len(interactions))
    )
    return interactions.assign(**{col_weight: base * 0.5 ** (age / half.total_seconds())})


def index_positions(index: pd.Index, ids: Any) -> np.ndarray:
    """Positions of ``ids`` in ``index`` (-1 when absent); ``"42"`` finds ``42`` and back."""
    query = pd.Index(ids)
    pos = index.get_indexer(query) if index.is_unique else index.get_indexer_for(query)
    missing = pos < 0
    if missing.any() and len(index):
        as_text = pd.Index(index.astype(str))
        pos[missing] = as_text.get_indexer(pd.Index(query[missing].astype(str)))
    return np.asarray(pos, dtype=np.int64)


def interactions_from_events(
    events: pd.DataFrame,
    event_weights: Mapping[str, float] | None = None,
    *,
    item_attribute: str = "_product_id",
    id_type: str = "PINPOINT_USER_ID",
    weight_metric: str | None = None,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_weight: str = DEFAULT_WEIGHT_COL,
    col_timestamp: str = DEFAULT_TIMESTAMP_COL,
) -> pd.DataFrame:
    """Interactions from engagekit events (the flat frame of ``engagekit.events.read_events``).

    Keeps the event types named in ``event_weights`` (default: ``_monetization.purchase``
    weighing 1), takes the item id from attribute ``item_attribute`` (Pinpoint's
    ``_product_id``) and the user from ``user_id`` (``id_type="PINPOINT_USER_ID"``, falling back
    to the endpoint id when the user id is empty) or ``endpoint_id``
    (``"PINPOINT_ENDPOINT_ID"``). With ``weight_metric`` (e.g. ``"_quantity"``) each event's
    weight is multiplied by that metric (1 when absent). One row per event; ``fit`` sums them.

        >>> events = pd.DataFrame({
        ...     "event_type": ["_monetization.purchase", "product.view"],
        ...     "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
        ...     "user_id": ["u1", "u1"], "endpoint_id": ["e1", "e1"],
        ...     "attributes": [{"_product_id": "sku1"}, {"_product_id": "sku2"}],
        ... })
        >>> interactions_from_events(events, {"_monetization.purchase": 3, "product.view": 1})
        ...     # doctest: +NORMALIZE_WHITESPACE
          user_id item_id  weight                 timestamp
        0      u1    sku1     3.0 2026-01-01 00:00:00+00:00
        1      u1    sku2     1.0 2026-01-02 00:00:00+00:00
    """
    weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
    if not weights:
        raise InteractionsError("event_weights is empty: name at least one event type to use")
    if id_type not in ("PINPOINT_USER_ID", "PINPOINT_ENDPOINT_ID"):
        raise InteractionsError(
            f"id_type must be 'PINPOINT_USER_ID' or 'PINPOINT_ENDPOINT_ID', got {id_type!r}"
        )
    if "event_type" not in events.columns:
        raise InteractionsError(
            "events lack column 'event_type'; expected the flat event frame of "
            "engagekit.events.read_events",
            missing=["event_type"],
            columns=list(events.columns),
        )
    selected = events[events["event_type"].isin(list(weights))]
    users = _event_ids(selected, id_type)
    items = _attribute(selected, "attributes", item_attribute)
    weight = selected["event_type"].map(weights).astype("float64").to_numpy()
    if weight_metric is not None:
        metric = _attribute(selected, "metrics", weight_metric)
        weight = weight * pd.to_numeric(metric, errors="coerce").fillna(1.0).to_numpy()
    ts_col = next(
        (c for c in ("event_timestamp", "timestamp", "arrival_timestamp") if c in selected),
        None,
    )
    timestamps = (
        _as_utc(selected[ts_col]).to_numpy()
        if ts_col
        else pd.Series(pd.NaT, index=selected.index, dtype="datetime64[us, UTC]").to_numpy()
    )
    out = pd.DataFrame(
        {
            col_user: users.to_numpy(),
            col_item: items.to_numpy(),
            col_weight: weight,
            col_timestamp: timestamps,
        }
    )
    keep = out[col_user].notna() & out[col_item].notna() & (out[col_item].astype(str) != "")
    return out[keep].reset_index(drop=True)


def interactions_from_lake(
    project: Any,
    event_weights: Mapping[str, float] | None = None,
    *,
    start: Any = None,
    end: Any = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`interactions_from_events` over a project's event lake in ``[start, end)``.

    Only the weighted event types and the columns needed are read.

        >>> weights = {"_monetization.purchase": 5, "add_to_cart": 2, "view_item": 1}
        >>> interactions = interactions_from_lake(project, weights, start="2026-10-01")
        ...     # doctest: +SKIP
    """
    from engagekit.events import read_events

    weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
    columns = ["event_type", "event_timestamp", "user_id", "endpoint_id", "product_id",
               "quantity", "item_price", "attributes", "metrics"]  # fmt: skip
    events = read_events(project, start=start, end=end, event_types=list(weights), columns=columns)
    return interactions_from_events(events, weights, **kwargs)


def _event_ids(events: pd.DataFrame, id_type: str) -> pd.Series:
    endpoint = events.get("endpoint_id")
    if id_type == "PINPOINT_ENDPOINT_ID":
        if endpoint is None:
            raise InteractionsError("events lack column 'endpoint_id'", missing=["endpoint_id"])
        return endpoint.astype("string")
    if "user_id" not in events:
        if endpoint is None:
            raise InteractionsError(
                "events lack both 'user_id' and 'endpoint_id'", missing=["user_id"]
            )
        return endpoint.astype("string")
    user = events["user_id"].astype("string").replace("", pd.NA)
    return user.fillna(endpoint.astype("string")) if endpoint is not None else user


# Pinpoint keys the event lake promotes out of attributes/metrics into flat columns
_PROMOTED = {
    "attributes": {"_product_id": "product_id", "_currency": "currency"},
    "metrics": {"_quantity": "quantity", "_item_price": "item_price"},
}


def _attribute(events: pd.DataFrame, column: str, key: str) -> pd.Series:
    """One key of the ``attributes``/``metrics`` maps, taken from the lake's promoted flat column
    (``_product_id`` -> ``product_id``), a flattened ``attributes.<key>`` column, or the map
    column itself (dicts, key-value pairs or an Arrow map), first non-missing wins."""
    found: pd.Series | None = None
    sources = [_PROMOTED[column].get(key), f"{column}.{key}"]
    for name in sources:
        if name is not None and name in events.columns:
            part = events[name].astype(object).where(events[name].notna(), None)
            found = part if found is None else found.where(found.notna(), part)
    if column in events.columns and (found is None or found.isna().any()):
        part = _map_lookup(events[column], key)
        found = part if found is None else found.where(found.notna(), part)
    if found is None:
        raise InteractionsError(
            f"events lack column {column!r} (or {sources[0] or sources[1]!r}) holding {key!r}",
            missing=[column],
            columns=list(events.columns),
        )
    return found.astype("string") if column == "attributes" else found


def _map_lookup(values: pd.Series, key: str) -> pd.Series:
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_map(dtype.pyarrow_dtype):
        arr = pa.chunked_array(values.array._pa_array)  # type: ignore[attr-defined]
        found = pc.map_lookup(arr, pa.scalar(key), "first")
        return pd.Series(found.to_pylist(), index=values.index, dtype=object)
    return pd.Series([_lookup(v, key) for v in values], index=values.index, dtype=object)


def _lookup(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, list | tuple | np.ndarray):
        for pair in value:
            if len(pair) == 2 and pair[0] == key:
                return pair[1]
    return None


def load_movielens(path: str | Path) -> pd.DataFrame:
    """MovieLens 100k ``u.data`` as interactions (user_id, item_id, weight=rating, timestamp).

    ``path`` is the dataset folder or the ``u.data`` file itself.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "u.data"
    frame = pd.read_csv(
        file,
        sep="\t",
        names=["user_id", "item_id", "weight", "timestamp"],
        dtype={"user_id": "int64", "item_id": "int64", "weight": "float64", "timestamp": "int64"},
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True).astype(
        "datetime64[us, UTC]"
    )
    return frame


def sample_interactions(
    n_users: int = 1_000,
    n_items: int = 200,
    n_interactions: int = 20_000,
    *,
    seed: int = 0,
    clusters: int = 50,
    own_cluster_share: float = 0.6,
    start: str = "2026-01-01",
    days: int = 90,
) -> pd.DataFrame:
    """Synthetic implicit feedback (user_id, item_id, weight, timestamp), vectorised.

    Item popularity follows a power law over item rank; user activity is heavy-tailed
    (lognormal); ``own_cluster_share`` of each user's interactions come from their taste
    cluster, the rest from global popularity. Same arguments, same frame.

        >>> sample_interactions(100, 20, 1_000, seed=1).shape
        (1000, 4)
    """
    rng = np.random.default_rng(seed)
    n_clusters = max(1, min(clusters, n_items))
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    users = rng.choice(n_users, size=n_interactions, p=activity / activity.sum())
    rank_weight = 1.0 / np.arange(1, n_items + 1) ** 0.9
    global_items = np.searchsorted(
        np.cumsum(rank_weight) / rank_weight.sum(), rng.random(n_interactions)
    )
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters)
    user_cluster = rng.integers(0, n_clusters, size=n_users)
    order = np.argsort(item_cluster, kind="stable")
    bounds = np.searchsorted(item_cluster[order], np.arange(n_clusters + 1))
    cum = np.cumsum(rank_weight[order])
    group = user_cluster[users]
    lo, hi = bounds[group], bounds[group + 1]
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    target = base + rng.random(n_interactions) * (cum[hi - 1] - base)
    own = order[np.minimum(np.searchsorted(cum, target), hi - 1)]
    items = np.where(rng.random(n_interactions) < own_cluster_share, own, global_items)
    seconds = rng.integers(0, days * 86_400, size=n_interactions)
    return pd.DataFrame(
        {
            "user_id": users.astype(np.int64),
            "item_id": np.minimum(items, n_items - 1).astype(np.int64),
            "weight": rng.integers(1, 4, size=n_interactions).astype(np.float32),
            "timestamp": pd.Timestamp(start, tz="UTC") + pd.to_timedelta(seconds, unit="s"),
        }
    )
