"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008).

Each interaction weight ``w`` becomes a confidence ``c = 1 + alpha * w`` that the user prefers
the item (preference 1; every other item has preference 0 and confidence 1). Alternating, the
user factors and then the item factors solve the weighted ridge regressions

    x_u = (YᵀY + Yᵀ(C_u - I)Y + λI)⁻¹ Yᵀ C_u p(u)

with the YᵀY trick: ``YᵀY`` is computed once per sweep, so a user costs only their own
interactions. The systems are solved by a few conjugate-gradient steps warm-started from the
previous sweep (Takács, Pilászy & Tikk 2011). Users with similar numbers of interactions are
solved together as padded blocks, so each CG step is two batched matrix products in numpy:
memory stays bounded and no Python loop runs per user.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommenders._base import Constraint, Recommender

# padded interaction slots per group in a solve: bounds the (slots × factors) temporaries
_CELL_BLOCK = 400_000


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

    def _item_similarities(self, item_rows: np.ndarray) -> np.ndarray:
        # cosine of the item factors
        y = self.item_factors_
        norms = np.linalg.norm(y, axis=1)
        norms[norms == 0] = 1.0
        return (y[item_rows] @ y.T) / (norms[item_rows, None] * norms[None, :])


def _solve(
    conf: sp.csr_matrix, other: np.ndarray, start: np.ndarray, reg: float, steps: int
) -> np.ndarray:
    """New factors for the rows of ``conf`` (values c - 1) given the other side's factors.

    Rows are grouped by their number of interactions and each group is padded to a
    (rows × longest × factors) block, so every CG step is two batched matrix products.
    """
    f = other.shape[1]
    gram = (other.T.astype(np.float64) @ other + reg * np.eye(f)).astype(np.float32)
    out = start.copy()
    degree = np.diff(conf.indptr)
    order = np.argsort(degree, kind="stable")
    empty = order[degree[order] == 0]
    out[empty] = 0.0  # no interaction: the ridge solution is 0
    lo = len(empty)
    while lo < len(order):
        widths = degree[order[lo:]]  # ascending: the last row of a group is its longest
        cells = np.arange(1, len(widths) + 1) * widths
        size = int(np.searchsorted(cells, _CELL_BLOCK, side="right"))
        # and at most ~25 % padding: a group spans degrees [w, 1.25 w + 8]
        size = min(size, int(np.searchsorted(widths, widths[0] * 1.25 + 8, side="right")))
        size = max(1, size)
        rows = order[lo : lo + size]
        out[rows] = _solve_group(conf, rows, other, out[rows], gram, steps)
        lo += size
    return out


def _solve_group(
    conf: sp.csr_matrix,
    rows: np.ndarray,
    other: np.ndarray,
    x: np.ndarray,
    gram: np.ndarray,
    steps: int,
) -> np.ndarray:
    lengths = np.diff(conf.indptr)[rows]
    width = int(lengths.max())
    slot = np.arange(width)
    mask = slot[None, :] < lengths[:, None]
    pos = np.where(mask, conf.indptr[rows][:, None] + slot[None, :], 0)
    ys = np.take(other, conf.indices[pos], axis=0)  # rows × width × f (padding weighs 0)
    cm1 = np.where(mask, conf.data[pos], np.float32(0.0))
    one = mask.astype(np.float32)

    def apply(vectors: np.ndarray) -> np.ndarray:  # y_i · v_u for every slot
        return np.matmul(ys, vectors[:, :, None])[:, :, 0]

    def combine(weights: np.ndarray) -> np.ndarray:  # Σ_i weights_ui · y_i
        return np.matmul(weights[:, None, :], ys)[:, 0, :]

    x = x.copy()
    r = combine(one + cm1 - cm1 * apply(x)) - x @ gram  # b - A x
    p = r.copy()
    rs = np.einsum("ij,ij->i", r, r)
    tiny = np.float32(1e-20)
    for _ in range(steps):
        ap = p @ gram + combine(cm1 * apply(p))
        denom = np.einsum("ij,ij->i", p, ap)
        step = np.where(denom > tiny, rs / np.maximum(denom, tiny), 0.0).astype(np.float32)
        x += step[:, None] * p
        r -= step[:, None] * ap
        rs_new = np.einsum("ij,ij->i", r, r)
        beta = np.where(rs > tiny, rs_new / np.maximum(rs, tiny), 0.0).astype(np.float32)
        p = r + beta[:, None] * p
        rs = rs_new
    return x
