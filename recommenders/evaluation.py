"""Offline evaluation: splits, ranking metrics at k, catalog coverage and a comparison table.

Splits take an interactions frame and return ``(train, test)`` without mutating it. Metrics take
a ``recommend`` result (id, rank, item, score) and a test frame with ``col_*`` column keywords;
relevance is binary (an item in a user's test rows is relevant) and scores are averaged over the
users in the test frame, so a user who got no hit counts as zero.

    >>> from recommenders import PopularityRecommender, compare, split_stratified
    >>> train, test = split_stratified(interactions, ratio=0.75, seed=42)   # doctest: +SKIP
    >>> compare({"popularity": PopularityRecommender()}, train, test, k=10) # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from recommenders._base import Recommender
from recommenders._errors import InteractionsError, RecommenderError
from recommenders.interactions import (
    DEFAULT_ITEM_COL,
    DEFAULT_TIMESTAMP_COL,
    DEFAULT_USER_COL,
    _as_utc,
)

METRICS = ("precision", "recall", "ndcg", "map")


def _require(frame: pd.DataFrame, *cols: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InteractionsError(
            f"frame lacks column(s) {missing}; found {list(frame.columns)}. "
            "Pass the names with col_user=, col_item=, col_timestamp=",
            missing=missing,
            columns=list(frame.columns),
        )


# -- splits --------------------------------------------------------------------------------------
def split_stratified(
    interactions: pd.DataFrame,
    ratio: float = 0.75,
    *,
    seed: int = 42,
    min_interactions: int = 1,
    col_user: str = DEFAULT_USER_COL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split per user: ``round(ratio × n)`` of each user's rows train, the rest test.

    Every user appears in train (the stratification); users with fewer than
    ``min_interactions`` rows are dropped.
    """
    if not 0 < ratio < 1:
        raise RecommenderError(f"ratio must be strictly between 0 and 1, got {ratio!r}")
    _require(interactions, col_user)
    users = interactions[col_user]
    size = users.groupby(users, sort=False).transform("size").to_numpy()
    rng = np.random.default_rng(seed)
    key = pd.Series(rng.random(len(interactions)), index=interactions.index)
    position = key.groupby(users.to_numpy(), sort=False).rank(method="first").to_numpy()
    keep = size >= min_interactions
    in_train = position <= np.maximum(np.round(ratio * size), 1)
    return interactions[keep & in_train], interactions[keep & ~in_train]


def split_leave_last_out(
    interactions: pd.DataFrame,
    n: int = 1,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_timestamp: str = DEFAULT_TIMESTAMP_COL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's last ``n`` interactions (by time) are the test set; users with ``n`` or fewer
    interactions stay whole in train."""
    if n < 1:
        raise RecommenderError(f"n must be at least 1, got {n!r}")
    _require(interactions, col_user, col_timestamp)
    users = interactions[col_user].to_numpy()
    ts = _as_utc(interactions[col_timestamp])
    order = pd.DataFrame({"u": users, "t": ts.to_numpy(), "i": np.arange(len(users))})
    order = order.sort_values(["u", "t", "i"], kind="stable")
    from_end = order.groupby("u", sort=False).cumcount(ascending=False).to_numpy()
    size = order.groupby("u", sort=False)["i"].transform("size").to_numpy()
    is_test = np.zeros(len(users), dtype=bool)
    is_test[order["i"].to_numpy()] = (from_end < n) & (size > n)
    return interactions[~is_test], interactions[is_test]


def split_by_time(
    interactions: pd.DataFrame,
    at: Any = None,
    *,
    test_fraction: float = 0.2,
    col_timestamp: str = DEFAULT_TIMESTAMP_COL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global cut in time: rows before ``at`` train, rows at or after it test.

    Without ``at``, the cut is the time that leaves the last ``test_fraction`` of rows for
    test. Test users absent from train are cold: models answer them with popularity.
    """
    _require(interactions, col_timestamp)
    ts = _as_utc(interactions[col_timestamp])
    if at is None:
        if not 0 < test_fraction < 1:
            raise RecommenderError(
                f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}"
            )
        cut = ts.quantile(1 - test_fraction)
    else:
        cut = pd.Timestamp(at)
        cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    is_test = (ts >= cut).to_numpy()
    return interactions[~is_test], interactions[is_test]


# -- metrics -------------------------------------------------------------------------------------
def _hits(
    recommendations: pd.DataFrame, test: pd.DataFrame, k: int, col_user: str, col_item: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Hits (id, rank) within the top k, and the number of relevant items per test user."""
    _require(test, col_user, col_item)
    _require(recommendations, "id", "item", "rank")
    relevant = test[[col_user, col_item]].drop_duplicates()
    n_relevant = relevant.groupby(col_user, sort=True).size()
    recs = recommendations.loc[recommendations["rank"] <= k, ["id", "item", "rank"]]
    rel = pd.DataFrame({"id": relevant[col_user].to_numpy(), "item": relevant[col_item].to_numpy()})
    for col in ("id", "item"):
        if recs[col].dtype != rel[col].dtype:  # e.g. ids given as text to recommend()
            recs[col] = recs[col].astype(str)
            rel[col] = rel[col].astype(str)
    hits = recs.merge(rel, on=["id", "item"], how="inner")
    if rel["id"].dtype != relevant[col_user].dtype:
        n_relevant.index = n_relevant.index.astype(str)
    return hits, n_relevant


def _hits_per_user(hits: pd.DataFrame, n_relevant: pd.Series) -> pd.Series:
    """Hits within the top k of every test user (0 for a user without a hit)."""
    return hits.groupby("id").size().reindex(n_relevant.index, fill_value=0)


def _mean_over_users(per_user: pd.Series | np.ndarray, n_relevant: pd.Series) -> float:
    """A per-user score averaged over the test users; 0.0 when there are none."""
    return float(per_user.mean()) if len(n_relevant) else 0.0


def _precision(hits: pd.DataFrame, n_rel: pd.Series, k: int) -> float:
    return _mean_over_users(_hits_per_user(hits, n_rel) / k, n_rel)


def _recall(hits: pd.DataFrame, n_rel: pd.Series, k: int) -> float:
    return _mean_over_users(_hits_per_user(hits, n_rel) / n_rel, n_rel)


def _ndcg(hits: pd.DataFrame, n_rel: pd.Series, k: int) -> float:
    gain = 1.0 / np.log2(hits["rank"].to_numpy(dtype=np.float64) + 1.0)
    dcg = pd.Series(gain, index=hits["id"].to_numpy()).groupby(level=0).sum()
    ideal_cum = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    idcg = ideal_cum[np.minimum(n_rel.to_numpy(), k) - 1]
    return _mean_over_users(dcg.reindex(n_rel.index, fill_value=0.0).to_numpy() / idcg, n_rel)


def _map(hits: pd.DataFrame, n_rel: pd.Series, k: int) -> float:
    hits = hits.sort_values(["id", "rank"], kind="stable")
    nth_hit = hits.groupby("id").cumcount().to_numpy() + 1
    prec = pd.Series(nth_hit / hits["rank"].to_numpy(), index=hits["id"].to_numpy())
    ap = prec.groupby(level=0).sum().reindex(n_rel.index, fill_value=0.0)
    return _mean_over_users(ap.to_numpy() / np.minimum(n_rel.to_numpy(), k), n_rel)


_SCORERS = {"precision": _precision, "recall": _recall, "ndcg": _ndcg, "map": _map}


def precision_at_k(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
) -> float:
    """Mean over test users of (relevant items in the top k) / k."""
    return _precision(*_hits(recommendations, test, k, col_user, col_item), k)


def recall_at_k(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
) -> float:
    """Mean over test users of (relevant items in the top k) / (relevant items)."""
    return _recall(*_hits(recommendations, test, k, col_user, col_item), k)


def ndcg_at_k(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
) -> float:
    """Mean normalised discounted cumulative gain (binary relevance, 1/log2(rank + 1))."""
    return _ndcg(*_hits(recommendations, test, k, col_user, col_item), k)


def map_at_k(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
) -> float:
    """Mean average precision: Σ precision@rank over hit ranks / min(k, relevant items)."""
    return _map(*_hits(recommendations, test, k, col_user, col_item), k)


def catalog_coverage(recommendations: pd.DataFrame, catalog: Iterable[Any] | int) -> float:
    """Share of the catalog (its item ids, or its size) that appears in any recommendation."""
    size = catalog if isinstance(catalog, int) else len(pd.Index(list(catalog)).unique())
    if size <= 0:
        raise RecommenderError("the catalog is empty: coverage is undefined")
    return float(recommendations["item"].nunique() / size)


def ranking_metrics(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
) -> dict[str, float]:
    """precision@k, recall@k, ndcg@k and map@k in one dict (keys like ``"ndcg@10"``).

    The join of recommendations with the test items is made once for all four metrics.
    """
    hits, n_rel = _hits(recommendations, test, k, col_user, col_item)
    return {f"{name}@{k}": score(hits, n_rel, k) for name, score in _SCORERS.items()}


def compare(
    models: Mapping[str, Recommender] | Iterable[Recommender],
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    *,
    exclude_seen: bool = True,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_weight: str | None = "weight",
    col_timestamp: str | None = DEFAULT_TIMESTAMP_COL,
) -> pd.DataFrame:
    """Fit each model on ``train``, recommend ``k`` items to every test user, score on ``test``.

    Returns one row per model (index ``model``): precision@k, recall@k, ndcg@k, map@k,
    coverage (share of training items recommended to anyone), fit and recommend seconds.
    """
    named = dict(models) if isinstance(models, Mapping) else _name_models(models)
    if not named:
        raise RecommenderError("compare() needs at least one model")
    _require(test, col_user, col_item)
    users = pd.unique(test[col_user])
    rows = []
    for name, model in named.items():
        t0 = time.perf_counter()
        model.fit(
            train,
            col_user=col_user,
            col_item=col_item,
            col_weight=col_weight,
            col_timestamp=col_timestamp,
        )
        t1 = time.perf_counter()
        recs = model.recommend(users, k=k, exclude_seen=exclude_seen)
        t2 = time.perf_counter()
        row: dict[str, Any] = {"model": name}
        row |= ranking_metrics(recs, test, k, col_user=col_user, col_item=col_item)
        row["coverage"] = catalog_coverage(recs, model.n_items_)
        row["fit_seconds"] = t1 - t0
        row["recommend_seconds"] = t2 - t1
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def grid_search(
    model: Recommender,
    grid: Mapping[str, Iterable[Any]],
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    *,
    metric: str = "ndcg",
    **compare_kwargs: Any,
) -> pd.DataFrame:
    """Try every combination of ``grid`` on copies of ``model``; best ``metric@k`` first.

    One row per combination: its parameters, then the :func:`compare` columns.

        >>> grid_search(ALSRecommender(), {"factors": [16, 32], "regularization": [10, 30]},
        ...             train, test)                                  # doctest: +SKIP
    """
    names = list(grid)
    values = [list(grid[name]) for name in names]
    if not names or any(not v for v in values):
        raise RecommenderError("grid needs at least one parameter with at least one value")
    unknown = [n for n in names if n not in model.get_params()]
    if unknown:
        raise RecommenderError(
            f"{type(model).__name__} has no parameter(s) {unknown}; "
            f"valid: {', '.join(model.get_params())}"
        )
    combos = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    models = {
        f"#{i}": type(model)(**(model.get_params() | combo)) for i, combo in enumerate(combos)
    }
    table = compare(models, train, test, k, **compare_kwargs)
    params = pd.DataFrame(combos, index=table.index)
    out = pd.concat([params, table], axis=1)
    column = f"{metric}@{k}"
    if column not in out.columns:
        raise RecommenderError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return out.sort_values(column, ascending=False, kind="stable").reset_index(drop=True)


def _name_models(models: Iterable[Recommender]) -> dict[str, Recommender]:
    named: dict[str, Recommender] = {}
    for model in models:
        base = type(model).__name__.removesuffix("Recommender").lower() or "model"
        name, n = base, 2
        while name in named:
            name, n = f"{base}_{n}", n + 1
        named[name] = model
    return named
