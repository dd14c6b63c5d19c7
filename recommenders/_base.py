"""The estimator base: parameters, fit bookkeeping, top-k recommendation with cold-start fallback.

A subclass declares ``_constraints`` (parameter -> (types, low, high)), implements
``_fit(matrix)`` and ``_scores(rows) -> ndarray`` (dense scores of known users' rows), and
lists its learned arrays in ``_state_names`` for persistence.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Iterable, Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommenders._errors import NotFittedError, RecommenderError
from recommenders.interactions import (
    DEFAULT_ITEM_COL,
    DEFAULT_TIMESTAMP_COL,
    DEFAULT_USER_COL,
    DEFAULT_WEIGHT_COL,
    InteractionMatrix,
    index_positions,
)

#: Columns of every ``recommend`` result.
RECOMMEND_COLUMNS = ["id", "rank", "item", "score"]

FilterItems = Collection[Any] | Mapping[Any, Iterable[Any]] | None
Constraint = tuple[tuple[type, ...], float | None, float | None]

# rows of the dense score block computed at once: bounds memory to ~chunk × n_items floats
_TARGET_CELLS = 16_000_000


class Recommender:
    """Base class of every recommender (scikit-learn conventions).

    ``__init__`` stores parameters only; ``fit`` learns from interactions and returns ``self``;
    learned attributes end in ``_``; ``recommend`` returns a tidy frame (id, rank, item, score).
    """

    _constraints: ClassVar[dict[str, Constraint]] = {}
    _state_names: ClassVar[tuple[str, ...]] = ()
    #: True when ``_scores`` is the same row for every user (walk one ranking, skip exclusions)
    _same_for_everyone: ClassVar[bool] = False
    #: set by ``recommenders.load_model``: what is known about the saved version
    model_info_: Any

    # -- parameters ------------------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change parameters (takes effect at the next ``fit``)."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise RecommenderError(
                    f"{type(self).__name__} has no parameter {name!r}; valid: {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def _validate_params(self) -> None:
        for name, (types, low, high) in self._constraints.items():
            value = getattr(self, name)
            if value is None:
                ok = type(None) in types
            else:
                ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
                if ok and isinstance(value, int | float):
                    ok = (low is None or value >= low) and (high is None or value <= high)
            if not ok:
                kinds = " or ".join(t.__name__ for t in types)
                bounds = (
                    f" in [{low if low is not None else '-inf'}, "
                    f"{high if high is not None else 'inf'}]"
                )
                raise RecommenderError(
                    f"{type(self).__name__}({name}=...) must be {kinds}{bounds}, got {value!r}"
                )

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = [
            f"{name}={getattr(self, name)!r}"
            for name, p in sig.parameters.items()
            if name != "self" and getattr(self, name) != p.default
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- fitting ---------------------------------------------------------------------------------
    def fit(
        self,
        interactions: pd.DataFrame,
        *,
        col_user: str = DEFAULT_USER_COL,
        col_item: str = DEFAULT_ITEM_COL,
        col_weight: str | None = DEFAULT_WEIGHT_COL,
        col_timestamp: str | None = DEFAULT_TIMESTAMP_COL,
    ) -> Self:
        """Learn from interactions (one row per user-item event; duplicate pairs add up).

        >>> import pandas as pd
        >>> from recommenders import PopularityRecommender
        >>> df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "a"]})
        >>> PopularityRecommender().fit(df).recommend([2], k=1)["item"].tolist()
        ['b']
        """
        self._validate_params()
        data = InteractionMatrix.from_frame(
            interactions,
            col_user=col_user,
            col_item=col_item,
            col_weight=col_weight,
            col_timestamp=col_timestamp,
        )
        self._set_data(data)
        self._fit(data.matrix)
        return self

    def _set_data(self, data: InteractionMatrix) -> None:
        self.user_index_ = data.users
        self.item_index_ = data.items
        self.user_items_ = data.matrix
        counts = np.bincount(data.matrix.indices, minlength=data.matrix.shape[1])
        counts = counts.astype(np.float64)
        self.item_popularity_ = counts
        self.training_window_ = (data.first_timestamp, data.last_timestamp)
        self.n_interactions_ = int(data.n_interactions)

    def _fit(self, matrix: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        """Dense scores (len(rows) × n_items) of known users; higher is better."""
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "user_index_")

    def _check_fitted(self, method: str = "recommend") -> None:
        if not self.is_fitted:
            raise NotFittedError(type(self).__name__, method)

    @property
    def n_users_(self) -> int:
        self._check_fitted("n_users_")
        return len(self.user_index_)

    @property
    def n_items_(self) -> int:
        self._check_fitted("n_items_")
        return len(self.item_index_)

    def popular_items(self, k: int = 10, *, filter_items: Collection[Any] | None = None) -> list:
        """The ``k`` most popular training items (the cold-start ranking)."""
        self._check_fitted("popular_items")
        scores = self._popularity_scores().copy()
        if filter_items is not None:
            scores[self._item_mask(filter_items)] = -np.inf
        order = np.argsort(-scores, kind="stable")[:k]
        order = order[np.isfinite(scores[order])]
        return self.item_index_[order].tolist()

    def _popularity_scores(self) -> np.ndarray:
        """Fallback scores: distinct users per item, ties broken toward the lower item position."""
        return self.item_popularity_

    # -- recommending ----------------------------------------------------------------------------
    def recommend(
        self,
        ids: Iterable[Any] | None = None,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        filter_items: FilterItems = None,
    ) -> pd.DataFrame:
        """Top-``k`` items for each id: a frame (id, rank, item, score), best first.

        ``ids`` default to every training user. Ids unseen in training (cold) get the popularity
        ranking. ``exclude_seen`` drops items the user interacted with in training.
        ``filter_items`` removes items: a collection (for everyone, e.g. out of stock) or a
        mapping id -> items (per id, e.g. already bought since training).
        """
        self._check_fitted("recommend")
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise RecommenderError(f"k must be a positive integer, got {k!r}")
        query = self.user_index_ if ids is None else pd.Index(_as_list(ids))
        if isinstance(filter_items, Mapping):
            return self._recommend(query, int(k), exclude_seen, None, filter_items)
        banned = None if filter_items is None else self._item_mask(filter_items)
        return self._recommend(query, int(k), exclude_seen, banned, None)

    def _recommend(
        self,
        query: pd.Index,
        k: int,
        exclude_seen: bool,
        banned: np.ndarray | None,
        bans_by_id: Mapping[Any, Iterable[Any]] | None,
    ) -> pd.DataFrame:
        """``recommend`` with a global item mask and per-id bans at once (used by serving)."""
        k = int(min(k, self.n_items_))
        rows = index_positions(self.user_index_, query)
        if banned is None:
            banned = np.zeros(self.n_items_, dtype=bool)
        per_id = self._per_id_bans(query, bans_by_id) if bans_by_id else None
        pop = self._popularity_scores().astype(np.float32)
        n_items = self.n_items_
        chunk = max(1, _TARGET_CELLS // max(n_items, 1))
        out_q, out_i, out_s = [], [], []

        def keep(qpos: np.ndarray, top: np.ndarray, vals: np.ndarray) -> None:
            ok = np.isfinite(vals.ravel())
            out_q.append(np.repeat(qpos, top.shape[1])[ok])
            out_i.append(top.ravel()[ok])
            out_s.append(vals.ravel()[ok])

        cold = np.flatnonzero(rows < 0)
        cold_banned = per_id[cold].getnnz(axis=1) > 0 if per_id is not None else None
        if len(cold):
            # every cold id without its own bans gets the same popularity ranking: rank once
            plain = cold if cold_banned is None else cold[~cold_banned]
            if len(plain):
                base = np.where(banned, np.float32(-np.inf), pop)[None, :]
                top, vals = _top_k(base, k)
                keep(plain, np.repeat(top, len(plain), 0), np.repeat(vals, len(plain), 0))
            if per_id is not None and cold_banned is not None and cold_banned.any():
                special = cold[cold_banned]
                scores = np.repeat(pop[None, :], len(special), axis=0)
                scores[:, banned] = -np.inf
                bans = per_id[special].tocoo()
                scores[bans.row, bans.col] = -np.inf
                keep(special, *_top_k(scores, k))
        known = np.flatnonzero(rows >= 0)
        if self._same_for_everyone and len(known):
            keep(*self._global_top_k(known, rows[known], k, exclude_seen, banned, per_id))
            known = known[:0]
        for start in range(0, len(known), chunk):
            qpos = known[start : start + chunk]
            r = rows[qpos]
            scores = np.require(self._scores(r), dtype=np.float32, requirements=["C", "W"])
            if exclude_seen:
                seen = self.user_items_[r]
                scores[np.repeat(np.arange(len(r)), np.diff(seen.indptr)), seen.indices] = -np.inf
            if banned.any():
                scores[:, banned] = -np.inf
            if per_id is not None:
                bans = per_id[qpos].tocoo()
                scores[bans.row, bans.col] = -np.inf
            keep(qpos, *_top_k(scores, k))
        q = np.concatenate(out_q) if out_q else np.empty(0, dtype=np.int64)
        items = np.concatenate(out_i) if out_i else np.empty(0, dtype=np.int64)
        scores_out = np.concatenate(out_s) if out_s else np.empty(0, dtype=np.float32)
        order = np.argsort(q, kind="stable")  # back to the order of the query
        q, items, scores_out = q[order], items[order], scores_out[order]
        result = pd.DataFrame(
            {
                "id": query.take(q),
                "rank": _ranks(q),
                "item": self.item_index_.take(items),
                "score": scores_out.astype(np.float64),
            }
        )
        return result

    def similar_items(
        self,
        items: Iterable[Any],
        k: int = 10,
        *,
        filter_items: Collection[Any] | None = None,
    ) -> pd.DataFrame:
        """The ``k`` items most similar to each given item: a frame (item, rank, similar_item,
        score), best first, for "because you bought X" messages.

        Similarity is the model's own (cosine of co-occurrence for kNN, cosine of latent factors
        for ALS); items unseen in training get the popular items. ``filter_items`` removes
        items (out of stock, ...).
        """
        self._check_fitted("similar_items")
        if type(self)._item_similarities is Recommender._item_similarities:
            self._item_similarities(np.empty(0, dtype=np.int64))  # raises: no similarity
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise RecommenderError(f"k must be a positive integer, got {k!r}")
        k = int(min(k, max(self.n_items_ - 1, 1)))
        query = pd.Index(_as_list(items))
        pos = index_positions(self.item_index_, query)
        banned = np.zeros(self.n_items_, dtype=bool)
        if filter_items is not None:
            banned = self._item_mask(filter_items)
        pop = self._popularity_scores().astype(np.float32)
        chunk = max(1, _TARGET_CELLS // max(self.n_items_, 1))
        out_q, out_i, out_s = [], [], []
        for start in range(0, len(query), chunk):
            p = pos[start : start + chunk]
            known = p >= 0
            scores = np.repeat(pop[None, :], len(p), axis=0)
            if known.any():
                scores[known] = self._item_similarities(p[known])
                scores[np.flatnonzero(known), p[known]] = -np.inf  # not the item itself
            scores[:, banned] = -np.inf
            top, vals = _top_k(scores, k)
            ok = np.isfinite(vals.ravel())
            out_q.append(np.repeat(np.arange(start, start + len(p)), k)[ok])
            out_i.append(top.ravel()[ok])
            out_s.append(vals.ravel()[ok])
        q = np.concatenate(out_q) if out_q else np.empty(0, dtype=np.int64)
        return pd.DataFrame(
            {
                "item": query.take(q),
                "rank": _ranks(q),
                "similar_item": self.item_index_.take(
                    np.concatenate(out_i) if out_i else np.empty(0, dtype=np.int64)
                ),
                "score": (np.concatenate(out_s) if out_s else np.empty(0)).astype(np.float64),
            }
        )

    def _item_similarities(self, item_rows: np.ndarray) -> np.ndarray:
        """Dense similarities (len(item_rows) × n_items) of known items to every item."""
        raise RecommenderError(
            f"{type(self).__name__} has no notion of item similarity; use ItemKNNRecommender or "
            "ALSRecommender for similar_items()"
        )

    def _global_top_k(
        self,
        qpos: np.ndarray,
        rows: np.ndarray,
        k: int,
        exclude_seen: bool,
        banned: np.ndarray,
        per_id: sp.csr_matrix | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k of one shared ranking for many users: each user's k first allowed places.

        Only the first ``k + (the user's exclusions)`` places of the ranking can hold them, so
        no user × catalog matrix is built.
        """
        scores = self._scores(rows[:1])[0].astype(np.float32)
        allowed = np.flatnonzero(~banned)
        ranking = allowed[np.lexsort((allowed, -scores[allowed]))]
        rank_of = np.full(self.n_items_, -1, dtype=np.int64)
        rank_of[ranking] = np.arange(len(ranking))
        parts = []
        if exclude_seen:
            parts.append(self.user_items_[rows])
        if per_id is not None:
            parts.append(per_id[qpos])
        excluded = sp.csr_matrix((len(rows), self.n_items_), dtype=np.int8)
        for part in parts:  # union of the sparsity patterns
            pattern = sp.csr_matrix(
                (np.ones(part.nnz, dtype=np.int8), part.indices, part.indptr), shape=part.shape
            )
            excluded = pattern if excluded.nnz == 0 else (excluded + pattern).astype(bool)
        depth = np.minimum(k + np.diff(excluded.indptr), len(ranking))
        out_q, out_i = [], []
        order = np.argsort(depth, kind="stable")  # similar depths share a block
        start = 0
        while start < len(order):
            widths = depth[order[start:]]  # ascending: the block's last row is its widest
            cells = np.arange(1, len(widths) + 1) * np.maximum(widths, 1)
            step = max(1, int(np.searchsorted(cells, _TARGET_CELLS // 4, side="right")))
            idx = order[start : start + step]
            width = int(depth[idx].max())
            sub = excluded[idx]
            ranks = rank_of[sub.indices]
            row_of = np.repeat(np.arange(len(idx)), np.diff(sub.indptr))
            inside = (ranks >= 0) & (ranks < width)
            taken = np.zeros((len(idx), width), dtype=bool)
            taken[row_of[inside], ranks[inside]] = True
            free = ~taken
            free &= np.cumsum(free, axis=1, dtype=np.int32) <= k  # the first k free places
            free_r, free_c = np.nonzero(free)
            out_q.append(qpos[idx][free_r])
            out_i.append(ranking[free_c])
            start += len(idx)
        q = np.concatenate(out_q)
        items = np.concatenate(out_i)
        vals = scores[items]
        return q, items.reshape(-1, 1), vals.reshape(-1, 1)

    def _item_mask(self, items: Collection[Any]) -> np.ndarray:
        mask = np.zeros(self.n_items_, dtype=bool)
        pos = index_positions(self.item_index_, _as_list(items))
        mask[pos[pos >= 0]] = True
        return mask

    def _per_id_bans(self, query: pd.Index, bans: Mapping[Any, Iterable[Any]]) -> sp.csr_matrix:
        keys = list(bans)
        lengths = [len(_as_list(bans[key])) for key in keys]
        flat = [item for key in keys for item in _as_list(bans[key])]
        item_pos = index_positions(self.item_index_, flat) if flat else np.empty(0, np.int64)
        pairs = pd.DataFrame(
            {
                "key": np.repeat(np.array([str(key) for key in keys], dtype=object), lengths),
                "col": item_pos,
            }
        )
        asked = pd.DataFrame(
            {"key": np.asarray(query.astype(str), dtype=object), "row": np.arange(len(query))}
        )
        matched = asked.merge(pairs[pairs["col"] >= 0], on="key")
        r = matched["row"].to_numpy(dtype=np.int64)
        c = matched["col"].to_numpy(dtype=np.int64)
        return sp.csr_matrix(
            (np.ones(len(r), dtype=np.int8), (r, c)), shape=(len(query), self.n_items_)
        )


def _as_list(values: Any) -> list:
    if isinstance(values, str | bytes) or np.isscalar(values):
        return [values]
    if isinstance(values, pd.Series | pd.Index | np.ndarray):
        return list(values.tolist())
    return list(values)


_BLOCK = 64


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of the ``k`` best scores of each row, best first; among
    equal scores the lower column wins, so results never depend on partition order.

    Wide rows go through block maxima: the k best entries of a row lie in the k blocks with
    the largest maxima (lower block first on ties), so only those k × 64 candidates are sorted
    instead of the whole row.
    """
    n_rows, n = scores.shape
    if n >= 8 * _BLOCK and k * _BLOCK * 4 <= n:
        full = n // _BLOCK * _BLOCK
        block_max = scores[:, :full].reshape(n_rows, -1, _BLOCK).max(axis=2)
        if full < n:
            block_max = np.concatenate([block_max, scores[:, full:].max(axis=1)[:, None]], axis=1)
        block_ids = np.broadcast_to(np.arange(block_max.shape[1]), block_max.shape)
        best_blocks = np.lexsort((block_ids, -block_max), axis=1)[:, :k]
        cand = (best_blocks[:, :, None] * _BLOCK + np.arange(_BLOCK)).reshape(n_rows, -1)
        cand = np.sort(cand, axis=1)
        inside = cand < n
        cols = np.where(inside, cand, n - 1)
        vals = np.where(inside, np.take_along_axis(scores, cols, axis=1), -np.inf)
    else:
        cols = np.broadcast_to(np.arange(n), scores.shape)
        vals = scores
    order = np.lexsort((cols, -vals), axis=1)[:, :k]
    return np.take_along_axis(cols, order, axis=1), np.take_along_axis(vals, order, axis=1)


def _ranks(q: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run of equal ``q`` values."""
    if len(q) == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    run = np.repeat(starts, np.diff(np.r_[starts, len(q)]))
    return np.arange(len(q)) - run + 1
