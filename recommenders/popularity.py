"""The popularity baseline: every user gets the most popular items they have not seen."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from recommenders._base import Constraint, Recommender
from recommenders._errors import RecommenderError


class PopularityRecommender(Recommender):
    """Recommend the items with the most distinct users (``by="users"``) or the largest summed
    weight (``by="weight"``); the baseline every other model must beat.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [1, 2, 2, 3], "item_id": ["a", "a", "b", "c"]})
    >>> PopularityRecommender().fit(df).recommend([3], k=2)["item"].tolist()
    ['a', 'b']
    """

    _constraints: ClassVar[dict[str, Constraint]] = {"by": ((str,), None, None)}
    _state_names: ClassVar[tuple[str, ...]] = ("scores_",)
    _same_for_everyone: ClassVar[bool] = True

    def __init__(self, by: Literal["users", "weight"] = "users") -> None:
        self.by = by

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.by not in ("users", "weight"):
            raise RecommenderError(
                f"PopularityRecommender(by=...) must be 'users' or 'weight', got {self.by!r}"
            )

    def _fit(self, matrix: sp.csr_matrix) -> None:
        if self.by == "weight":
            self.scores_ = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
        else:
            self.scores_ = self.item_popularity_.astype(np.float64)

    def _popularity_scores(self) -> np.ndarray:
        return self.scores_

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores_.astype(np.float32), (len(rows), len(self.scores_)))
