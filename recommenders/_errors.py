"""Errors and warnings raised by the recommenders.

EngagekitError
└── RecommenderError        a recommender cannot do what was asked
    ├── NotFittedError      ``recommend`` (or save) was called before ``fit``
    └── InteractionsError   the interactions frame lacks a column or holds bad values

UserWarning
└── CatalogMismatchWarning  a loaded model was trained on another version of the catalog
"""

from __future__ import annotations

from collections.abc import Sequence

from engagekit.errors import EngagekitError


class RecommenderError(EngagekitError):
    """A recommender cannot do what was asked; the message says what to do instead."""


class NotFittedError(RecommenderError, AttributeError):
    """The estimator has no learned state yet: call ``fit`` (or ``load_model``) first.

    Also an ``AttributeError``, so ``hasattr(model, "n_users_")`` is False before ``fit``.
    """

    def __init__(self, estimator: str, method: str = "recommend") -> None:
        super().__init__(
            f"this {estimator} is not fitted yet: call {estimator}.fit(interactions) "
            f"(or recommenders.load_model(...)) before {method}()"
        )
        self.estimator = estimator
        self.method = method


class InteractionsError(RecommenderError):
    """The interactions frame cannot be used; ``missing`` names absent columns."""

    def __init__(self, message: str, *, missing: Sequence[str] = (), columns: Sequence[str] = ()):
        super().__init__(message)
        self.missing = list(missing)
        self.columns = list(columns)


class CatalogMismatchWarning(UserWarning):
    """A model is used with a catalog whose item set differs from the one it was trained on."""
