"""EASE: a shallow linear item-item autoencoder with a closed-form solution (Steck 2019).

``B = I - P · diag(1 / diag(P))`` with ``P = (XᵀX + λI)⁻¹`` and a zero diagonal; a user's scores
are ``x_u B``. One dense ``n_items × n_items`` inverse: very strong on catalogs of a few thousand
items, out of reach for large ones (memory grows with the square, time with the cube of the
catalog), so ``max_items`` refuses big catalogs with a pointer to ALS.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommenders._base import Constraint, Recommender
from recommenders._errors import RecommenderError


class EASERecommender(Recommender):
    """Embarrassingly shallow autoencoder with L2 penalty ``regularization`` (λ).

    ``binary=True`` (default) learns from who interacted with what, ignoring weights;
    ``n_threads`` caps the BLAS threads of the inversion (None: the BLAS default; 1 is kinder
    to a machine shared with other work).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": ["a", "b", "a", "b", "a"]})
    >>> EASERecommender(regularization=1.0).fit(df).recommend([3], k=1)["item"].tolist()
    ['b']
    """

    _constraints: ClassVar[dict[str, Constraint]] = {
        "regularization": ((int, float), 0, None),
        "binary": ((bool,), None, None),
        "max_items": ((int,), 1, None),
        "n_threads": ((int, type(None)), 1, None),
    }
    _state_names: ClassVar[tuple[str, ...]] = ("weights_",)

    def __init__(
        self,
        regularization: float = 500.0,
        binary: bool = True,
        max_items: int = 10_000,
        n_threads: int | None = None,
    ) -> None:
        self.regularization = regularization
        self.binary = binary
        self.max_items = max_items
        self.n_threads = n_threads

    def _fit(self, matrix: sp.csr_matrix) -> None:
        n_items = matrix.shape[1]
        if n_items > self.max_items:
            raise RecommenderError(
                f"EASERecommender inverts a dense {n_items:,} × {n_items:,} matrix "
                f"(about {n_items**2 * 8 / 2**30:.1f} GB); that is more than max_items="
                f"{self.max_items:,}. Use ALSRecommender for large catalogs, or raise max_items"
            )
        x = matrix.astype(np.float64, copy=True)
        if self.binary:
            x.data[:] = 1.0
        gram = (x.T @ x).toarray()
        gram[np.diag_indices(n_items)] += float(self.regularization)
        try:
            with threadpool_limits(limits=self.n_threads, user_api="blas"):
                inverse = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise RecommenderError(
                "EASE's Gram matrix is singular: use regularization > 0"
            ) from exc
        weights = inverse / -np.diag(inverse)
        weights[np.diag_indices(n_items)] = 0.0
        self.weights_ = weights.astype(np.float32)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        x = self.user_items_[rows].astype(np.float32)
        if self.binary:
            x.data[:] = 1.0
        return np.asarray(x @ self.weights_, dtype=np.float32)

    def _item_similarities(self, item_rows: np.ndarray) -> np.ndarray:
        return self.weights_[item_rows].astype(np.float64)
