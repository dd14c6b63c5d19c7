"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008).

Each interaction weight ``w`` becomes a confidence ``c = 1 + alpha * w`` that the user prefers
the item (preference 1; every other item has preference 0 and confidence 1). Alternating, the
user factors and then the item factors solve the weighted ridge regressions

    x_u = (YᵀY + Yᵀ(C_u - I)Y + λI)⁻¹ Yᵀ C_u p(u)

with the YᵀY trick: ``YᵀY`` is computed once per sweep, so a user costs only their own
interactions. The systems are solved by a few conjugate-gradient steps warm-started from the
previous sweep (Takács, Pilászy & Tikk 2011), vectorised over blocks of users with numpy and
scipy.sparse: memory stays bounded and no Python loop runs per user.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommenders._base import Constraint, Recommender

# interactions handled per block in a solve: bounds the (nnz × factors) temporaries
_NNZ_BLOCK = 400_000


class ALSRecommender(Recommender):
    """Implicit ALS with confidence weighting.

    ``factors`` latent dimensions, ``regularization`` λ, ``alpha`` confidence scale,
    ``iterations`` alternating sweeps, ``cg_steps`` conjugate-gradient steps per solve,
    ``random_state`` seeds the initial factors (same seed, same model).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": ["a", "b", "a", "b", "a"]})
    >>> model = ALSRecommender(factors=4, random_state=0).fit(df)
    >>> model.user_factors_.shape, model.item_factors_.shape
    ((3, 4), (2, 4))
    """

    _constraints: ClassVar[dict[str, Constraint]] = {
        "factors": ((int,), 1, 1024),
        "regularization": ((int, float), 0, None),
        "alpha": ((int, float), 0, None),
        "iterations": ((int,), 1, None),
        "cg_steps": ((int,), 1, None),
        "random_state": ((int, type(None)), 0, None),
    }
    _state_names: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_")

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 20.0,
        alpha: float = 1.0,
        iterations: int = 15,
        cg_steps: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.random_state = random_state

    def _fit(self, matrix: sp.csr_matrix) -> None:
        conf = matrix.astype(np.float32, copy=True)
        conf.data *= np.float32(self.alpha)  # c - 1
        conf_t = conf.T.tocsr()
        rng = np.random.default_rng(self.random_state)
        f = self.factors
        x = (rng.standard_normal((conf.shape[0], f)) * 0.01).astype(np.float32)
        y = (rng.standard_normal((conf.shape[1], f)) * 0.01).astype(np.float32)
        reg = float(self.regularization)
        # the products here are thin (rows × factors × factors): one BLAS thread is as fast and
        # does not spin against other processes on a busy machine
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(self.iterations):
                x = _solve(conf, y, x, reg, self.cg_steps)
                y = _solve(conf_t, x, y, reg, self.cg_steps)
        self.user_factors_ = x
        self.item_factors_ = y

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[rows] @ self.item_factors_.T


def _solve(
    conf: sp.csr_matrix, other: np.ndarray, start: np.ndarray, reg: float, steps: int
) -> np.ndarray:
    """New factors for the rows of ``conf`` (values c - 1) given the other side's factors."""
    f = other.shape[1]
    gram = (other.T.astype(np.float64) @ other + reg * np.eye(f)).astype(np.float32)
    out = start.copy()
    indptr = conf.indptr
    n_rows = conf.shape[0]
    lo = 0
    while lo < n_rows:
        # a block of rows holding about _NNZ_BLOCK interactions (at least one row)
        hi = int(np.searchsorted(indptr, indptr[lo] + _NNZ_BLOCK, side="right")) - 1
        hi = min(max(hi, lo + 1), n_rows)
        out[lo:hi] = _solve_block(conf[lo:hi], other, out[lo:hi], gram, steps)
        lo = hi
    return out


def _solve_block(
    conf: sp.csr_matrix, other: np.ndarray, x: np.ndarray, gram: np.ndarray, steps: int
) -> np.ndarray:
    n = conf.shape[0]
    cols, cm1, indptr = conf.indices, conf.data, conf.indptr
    row_of = np.repeat(np.arange(n), np.diff(indptr))
    gathered = np.take(other, cols, axis=0)  # nnz × f, reused by every CG step of this block

    def weighted_sum(weights: np.ndarray) -> np.ndarray:
        # Σ_i weights_ui · y_i for each row u, as a sparse-dense product
        return sp.csr_matrix((weights, cols, indptr), shape=conf.shape) @ other

    x = x.copy()
    dots = np.einsum("ij,ij->i", gathered, np.take(x, row_of, axis=0))
    r = weighted_sum(1.0 + cm1 - cm1 * dots) - x @ gram  # b - A x
    p = r.copy()
    rs = np.einsum("ij,ij->i", r, r)
    tiny = np.float32(1e-20)
    for _ in range(steps):
        dots = np.einsum("ij,ij->i", gathered, np.take(p, row_of, axis=0))
        ap = p @ gram + weighted_sum(cm1 * dots)
        denom = np.einsum("ij,ij->i", p, ap)
        step = np.where(denom > tiny, rs / np.maximum(denom, tiny), 0.0).astype(np.float32)
        x += step[:, None] * p
        r -= step[:, None] * ap
        rs_new = np.einsum("ij,ij->i", r, r)
        beta = np.where(rs > tiny, rs_new / np.maximum(rs, tiny), 0.0).astype(np.float32)
        p = r + beta[:, None] * p
        rs = rs_new
    return x
