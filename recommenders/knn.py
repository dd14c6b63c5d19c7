"""Item-item k-nearest-neighbour recommender: cosine similarity over the sparse interaction matrix.

``sim(i, j) = x_i · x_j / (|x_i| |x_j| + shrinkage)`` over item columns; each item keeps its
``n_neighbors`` most similar items; a user's score for item ``j`` is the sum of the user's weights
on ``j``'s neighbours times their similarity. Similarities are computed in blocks of items so
memory stays bounded on large catalogs.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recommenders._base import Constraint, Recommender

_BLOCK_CELLS = 8_000_000


class ItemKNNRecommender(Recommender):
    """Item-item cosine kNN with optional shrinkage.

    ``n_neighbors`` similar items are kept per item; ``shrinkage`` damps similarities resting on
    few common users; ``binary=True`` ignores weights (every interaction counts 1). Items with no
    evidence for a user rank after every item with evidence, by popularity (their score is
    negative, in [-1, 0)).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": ["a", "b", "a", "b", "a"]})
    >>> ItemKNNRecommender(n_neighbors=5).fit(df).recommend([3], k=1)["item"].tolist()
    ['b']
    """

    _constraints: ClassVar[dict[str, Constraint]] = {
        "n_neighbors": ((int,), 1, None),
        "shrinkage": ((int, float), 0, None),
        "binary": ((bool,), None, None),
    }
    _state_names: ClassVar[tuple[str, ...]] = ("similarity_",)

    def __init__(self, n_neighbors: int = 100, shrinkage: float = 0.0, binary: bool = False):
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage
        self.binary = binary

    def _weights(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        x = matrix.astype(np.float32, copy=True)
        if self.binary:
            x.data[:] = 1.0
        return x

    def _fit(self, matrix: sp.csr_matrix) -> None:
        x = self._weights(matrix)
        n_items = x.shape[1]
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel())
        xt = x.T.tocsr()
        k = min(self.n_neighbors, max(n_items - 1, 1))
        block = max(1, _BLOCK_CELLS // max(n_items, 1))
        neigh, target, vals = [], [], []
        for start in range(0, n_items, block):
            stop = min(start + block, n_items)
            dots = (xt[start:stop] @ x).toarray().astype(np.float64)
            denom = norms[start:stop, None] * norms[None, :] + float(self.shrinkage)
            sims = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
            sims[np.arange(stop - start), np.arange(start, stop)] = 0.0
            if k < n_items:
                part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            else:
                part = np.broadcast_to(np.arange(n_items), sims.shape)
            best = np.take_along_axis(sims, part, axis=1)
            rows = np.broadcast_to(np.arange(start, stop)[:, None], part.shape)
            ok = best > 0
            neigh.append(part[ok])
            target.append(rows[ok])
            vals.append(best[ok].astype(np.float32))
        # similarity_[i, j]: weight of neighbour i when scoring item j
        self.similarity_ = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(neigh), np.concatenate(target))),
            shape=(n_items, n_items),
            dtype=np.float32,
        )
        pop = self.item_popularity_
        self._fallback = (pop / (pop.max() + 1.0) - 1.0).astype(np.float32)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        x = self._weights(self.user_items_[rows])
        scores = np.asarray((x @ self.similarity_).toarray(), dtype=np.float32)
        if not hasattr(self, "_fallback"):
            pop = self.item_popularity_
            self._fallback = (pop / (pop.max() + 1.0) - 1.0).astype(np.float32)
        empty = scores <= 0
        scores[empty] = np.broadcast_to(self._fallback, scores.shape)[empty]
        return scores
