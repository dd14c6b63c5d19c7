"""Item-item k-nearest-neighbour recommender: cosine similarity over the sparse interaction matrix.

``sim(i, j) = x_i · x_j / (|x_i| |x_j| + shrinkage)`` over item columns. A user's score for item
``j`` is ``Σ_i w_ui · sim(i, j)`` over the items ``i`` the user interacted with, keeping only
the ``n_neighbors`` largest similarities: ``prune="target"`` keeps, for each scored item ``j``,
its nearest items ``i`` (Sarwar et al. 2001; the more accurate on MovieLens), ``prune="source"``
keeps, for each item ``i`` the user has, its nearest items ``j`` (Deshpande & Karypis 2004;
scoring a user costs exactly their items × n_neighbors, the faster on large catalogs).
Similarities are computed in blocks of items so memory stays bounded.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from recommenders._base import Constraint, Recommender
from recommenders._errors import RecommenderError

_BLOCK_CELLS = 8_000_000


class ItemKNNRecommender(Recommender):
    """Item-item cosine kNN with optional shrinkage.

    ``n_neighbors`` similar items are kept per item; ``shrinkage`` damps similarities resting on
    few common users; ``prune`` picks which neighbourhoods are kept (see the module
    doc); ``binary=True`` ignores weights (every interaction counts 1). Items with no
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
        "prune": ((str,), None, None),
    }
    _state_names: ClassVar[tuple[str, ...]] = ("similarity_",)

    def __init__(
        self,
        n_neighbors: int = 100,
        shrinkage: float = 0.0,
        binary: bool = False,
        prune: Literal["target", "source"] = "target",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage
        self.binary = binary
        self.prune = prune

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.prune not in ("target", "source"):
            raise RecommenderError(
                f"ItemKNNRecommender(prune=...) must be 'target' or 'source', got {self.prune!r}"
            )

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
        source, neigh, vals = [], [], []
        for start in range(0, n_items, block):
            stop = min(start + block, n_items)
            dots = (xt[start:stop] @ x).toarray()
            denom = (norms[start:stop, None] * norms[None, :] + self.shrinkage).astype(np.float32)
            sims = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
            sims[np.arange(stop - start), np.arange(start, stop)] = 0.0
            if k < n_items:
                part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            else:
                part = np.broadcast_to(np.arange(n_items), sims.shape)
            best = np.take_along_axis(sims, part, axis=1)
            rows = np.broadcast_to(np.arange(start, stop)[:, None], part.shape)
            ok = best > 0
            source.append(rows[ok])
            neigh.append(part[ok])
            vals.append(best[ok].astype(np.float32))
        # similarity_[i, j]: sim(i, j), weight of the user's item i when scoring item j
        near, far = np.concatenate(source), np.concatenate(neigh)
        rows, cols = (far, near) if self.prune == "target" else (near, far)
        self.similarity_ = sp.csr_matrix(
            (np.concatenate(vals), (rows, cols)),
            shape=(n_items, n_items),
            dtype=np.float32,
        )
        pop = self.item_popularity_
        self._fallback = (pop / (pop.max() + 1.0) - 1.0).astype(np.float32)

    def _item_similarities(self, item_rows: np.ndarray) -> np.ndarray:
        # exact cosine (with shrinkage) of the asked items to every item, unpruned
        cached = getattr(self, "_columns", None)
        if cached is None or cached[0] is not self.user_items_:
            x = self._weights(self.user_items_)
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel())
            cached = self._columns = (self.user_items_, x, x.tocsc(), norms)
        _, x, x_csc, norms = cached
        dots = (x_csc[:, item_rows].T @ x).toarray()
        denom = norms[item_rows, None] * norms[None, :] + self.shrinkage
        return np.divide(dots, denom, out=np.zeros_like(dots, dtype=np.float64), where=denom > 0)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        x = self._weights(self.user_items_[rows])
        product = (x @ self.similarity_).tocsr()
        if not hasattr(self, "_fallback"):
            pop = self.item_popularity_
            self._fallback = (pop / (pop.max() + 1.0) - 1.0).astype(np.float32)
        # start from the fallback row and write the evidence over it
        scores = np.repeat(self._fallback[None, :], len(rows), axis=0)
        row_of = np.repeat(np.arange(len(rows)), np.diff(product.indptr))
        positive = product.data > 0
        scores[row_of[positive], product.indices[positive]] = product.data[positive]
        return scores
