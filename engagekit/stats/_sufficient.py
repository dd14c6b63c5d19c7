"""Sufficient statistics: the only inputs the statistics engine needs.

Each value object is a frozen dataclass of sums. Sums add, so statistics computed on
partitions (days, files, Spark executors, DuckDB groups) combine with ``+`` into the
statistic of the whole:

    >>> a = MeanStats.from_values([1.0, 2.0])
    >>> b = MeanStats.from_values([3.0])
    >>> (a + b) == MeanStats.from_values([1.0, 2.0, 3.0])
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Self

import numpy as np

from engagekit.stats._errors import StatsInputError

# A variance smaller than this fraction of the mean square is rounding noise of
# ``sum_sq - sum**2 / n``, not information: it is reported as exactly zero.
_REL_VARIANCE_TOL = 1e-12


def _as_float_array(values: Any, *, name: str, dropna: bool) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if np.isinf(arr).any():
        raise StatsInputError(
            f"{name} contains infinite values; remove or cap them before computing statistics"
        )
    missing = np.isnan(arr)
    if missing.any():
        if not dropna:
            raise StatsInputError(
                f"{name} contains {int(missing.sum())} missing value(s); fill them (e.g. 0 for "
                "a user without events) or pass dropna=True to leave them out"
            )
        arr = arr[~missing]
    return arr


def _sample_variance(n: float, total: float, total_sq: float) -> float:
    """Unbiased (ddof=1) variance from sums, clamped at zero; NaN when n < 2."""
    if n < 2:
        return math.nan
    mean = total / n
    var = (total_sq - total * mean) / (n - 1)
    if var <= _REL_VARIANCE_TOL * (total_sq / n):
        return 0.0
    return var


def _sample_covariance(n: int, sum_a: float, sum_b: float, sum_ab: float) -> float:
    """Unbiased (ddof=1) covariance from sums; NaN when n < 2."""
    if n < 2:
        return math.nan
    return (sum_ab - sum_a * sum_b / n) / (n - 1)


class _Sums:
    """What the value objects share: a user count ``n`` first, then sums that add field-wise."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise StatsInputError(f"n must be >= 0, got {self.n}")

    @classmethod
    def _from_sums(cls, n: int, *sums: float) -> Self:
        return cls(int(n), *map(float, sums))  # type: ignore[call-arg]

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]

    def __add__(self, other: object) -> Self:
        if not isinstance(other, type(self)):
            return NotImplemented
        summed = (a + b for a, b in zip(self._values(), other._values(), strict=True))
        return type(self)(*summed)


@dataclass(frozen=True)
class MeanStats(_Sums):
    """Sufficient statistics of a per-user metric: count, sum and sum of squares.

    ``variance`` is the unbiased sample variance (ddof=1), as Welch's test uses.

        >>> s = MeanStats.from_values([1.0, 2.0, 3.0])
        >>> s.n, s.sum, s.sum_sq, s.mean, s.variance
        (3, 6.0, 14.0, 2.0, 1.0)
    """

    n: int
    sum: float
    sum_sq: float

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sum_sq < 0:
            raise StatsInputError(f"sum_sq must be >= 0, got {self.sum_sq}")

    @classmethod
    def from_values(
        cls, values: Iterable[float] | np.ndarray, *, dropna: bool = False
    ) -> MeanStats:
        """Build from raw per-user values (missing values raise unless ``dropna``)."""
        arr = _as_float_array(values, name="values", dropna=dropna)
        return cls(n=int(arr.size), sum=float(arr.sum()), sum_sq=float(np.dot(arr, arr)))

    @classmethod
    def from_aggregates(cls, n: int, sum: float, sum_sq: float) -> MeanStats:
        """Build from aggregates computed elsewhere (SQL ``count``, ``sum(x)``, ``sum(x*x)``)."""
        return cls._from_sums(n, sum, sum_sq)

    @classmethod
    def from_moments(cls, n: int, mean: float, std: float, *, ddof: int = 1) -> MeanStats:
        """Build from a published mean and standard deviation (``ddof`` of that std)."""
        total = n * mean
        return cls(n=int(n), sum=float(total), sum_sq=float(std**2 * (n - ddof) + total * mean))

    @property
    def mean(self) -> float:
        """Sample mean; NaN for an empty arm."""
        return self.sum / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        """Unbiased sample variance; NaN when n < 2."""
        return _sample_variance(self.n, self.sum, self.sum_sq)

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1)."""
        return math.sqrt(self.variance) if not math.isnan(self.variance) else math.nan


@dataclass(frozen=True)
class ProportionStats(_Sums):
    """Sufficient statistics of a 0/1 metric (conversion, visit): trials and successes.

    >>> p = ProportionStats.from_values([0, 1, 1, 0])
    >>> p.n, p.successes, p.rate
    (4, 2, 0.5)
    """

    n: int
    successes: int

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.successes <= self.n:
            raise StatsInputError(
                f"successes must be between 0 and n={self.n}, got {self.successes}"
            )

    @classmethod
    def from_values(
        cls, values: Iterable[Any] | np.ndarray, *, dropna: bool = False
    ) -> ProportionStats:
        """Build from 0/1 or boolean per-user values; anything else raises."""
        arr = _as_float_array(values, name="values", dropna=dropna)
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            raise StatsInputError(
                f"a proportion metric takes 0/1 or boolean values, found {int(bad.sum())} other "
                f"value(s) such as {arr[bad][0]!r}; analyse it as a 'mean' metric instead"
            )
        return cls(n=int(arr.size), successes=int(arr.sum()))

    @classmethod
    def from_aggregates(cls, n: int, successes: int) -> ProportionStats:
        """Build from counts computed elsewhere."""
        return cls(n=int(n), successes=int(successes))

    @property
    def rate(self) -> float:
        """Observed proportion; NaN for an empty arm."""
        return self.successes / self.n if self.n > 0 else math.nan

    mean = rate

    @property
    def variance(self) -> float:
        """Bernoulli variance ``p (1 - p)`` (denominator n, as the z statistics use)."""
        p = self.rate
        return p * (1.0 - p)

    def as_mean_stats(self) -> MeanStats:
        """The same data as a :class:`MeanStats` (sum of squares of 0/1 equals the sum)."""
        return MeanStats(self.n, float(self.successes), float(self.successes))


@dataclass(frozen=True)
class CupedStats(_Sums):
    """Sufficient statistics for CUPED: a metric ``y`` and its pre-period covariate ``x``.

    ``n, sum, sum_sq`` describe ``y`` (as in :class:`MeanStats`); ``sum_x, sum_x_sq`` describe
    ``x``; ``sum_xy`` is the cross-product.

        >>> c = CupedStats.from_values(y=[1.0, 2.0, 4.0], x=[1.0, 1.0, 3.0])
        >>> c.post.mean, c.pre.mean, round(c.covariance, 6)
        (2.3333333333333335, 1.6666666666666667, 1.666667)
    """

    n: int
    sum: float
    sum_sq: float
    sum_x: float
    sum_x_sq: float
    sum_xy: float

    @classmethod
    def from_values(
        cls,
        y: Iterable[float] | np.ndarray,
        x: Iterable[float] | np.ndarray,
        *,
        dropna: bool = False,
    ) -> CupedStats:
        """Build from paired per-user values (``dropna`` leaves out pairs missing a side)."""
        ya = np.asarray(y, dtype=float).ravel()
        xa = np.asarray(x, dtype=float).ravel()
        if ya.shape != xa.shape:
            raise StatsInputError(
                "y and x must have the same length (one pair per user), "
                f"got {ya.size} and {xa.size}"
            )
        if dropna:
            keep = ~(np.isnan(ya) | np.isnan(xa))
            ya, xa = ya[keep], xa[keep]
        ya = _as_float_array(ya, name="y", dropna=False)
        xa = _as_float_array(xa, name="x (pre-period covariate)", dropna=False)
        return cls(
            n=int(ya.size),
            sum=float(ya.sum()),
            sum_sq=float(np.dot(ya, ya)),
            sum_x=float(xa.sum()),
            sum_x_sq=float(np.dot(xa, xa)),
            sum_xy=float(np.dot(xa, ya)),
        )

    @classmethod
    def from_aggregates(
        cls,
        n: int,
        sum: float,
        sum_sq: float,
        sum_x: float,
        sum_x_sq: float,
        sum_xy: float,
    ) -> CupedStats:
        """Build from aggregates computed elsewhere (e.g. one SQL ``GROUP BY arm``)."""
        return cls._from_sums(n, sum, sum_sq, sum_x, sum_x_sq, sum_xy)

    @property
    def post(self) -> MeanStats:
        """The metric's own statistics."""
        return MeanStats(self.n, self.sum, self.sum_sq)

    @property
    def pre(self) -> MeanStats:
        """The covariate's statistics."""
        return MeanStats(self.n, self.sum_x, self.sum_x_sq)

    @property
    def covariance(self) -> float:
        """Sample covariance of x and y (ddof=1); NaN when n < 2."""
        return _sample_covariance(self.n, self.sum_x, self.sum, self.sum_xy)


@dataclass(frozen=True)
class RatioStats(_Sums):
    """Sufficient statistics of a ratio metric ``sum(num) / sum(den)`` over ``n`` users.

    For metrics whose unit is not the randomised user, e.g. revenue per session or clicks per
    delivered message: the ratio of two per-user sums. The cross-product feeds the delta method.

        >>> r = RatioStats.from_values(num=[10.0, 0.0, 5.0], den=[2.0, 1.0, 1.0])
        >>> r.ratio
        3.75
    """

    n: int
    sum_num: float
    sum_num_sq: float
    sum_den: float
    sum_den_sq: float
    sum_num_den: float

    @classmethod
    def from_values(
        cls,
        num: Iterable[float] | np.ndarray,
        den: Iterable[float] | np.ndarray,
        *,
        dropna: bool = False,
    ) -> RatioStats:
        """Build from per-user numerators and denominators (one pair per user)."""
        return cls(*CupedStats.from_values(y=num, x=den, dropna=dropna)._values())

    @classmethod
    def from_aggregates(
        cls,
        n: int,
        sum_num: float,
        sum_num_sq: float,
        sum_den: float,
        sum_den_sq: float,
        sum_num_den: float,
    ) -> RatioStats:
        """Build from aggregates computed elsewhere."""
        return cls._from_sums(n, sum_num, sum_num_sq, sum_den, sum_den_sq, sum_num_den)

    @property
    def num(self) -> MeanStats:
        """The numerator's per-user statistics."""
        return MeanStats(self.n, self.sum_num, self.sum_num_sq)

    @property
    def den(self) -> MeanStats:
        """The denominator's per-user statistics."""
        return MeanStats(self.n, self.sum_den, self.sum_den_sq)

    @property
    def ratio(self) -> float:
        """``sum(num) / sum(den)``; NaN when the denominator sums to zero."""
        return self.sum_num / self.sum_den if self.sum_den != 0 else math.nan

    @property
    def covariance(self) -> float:
        """Sample covariance of numerator and denominator (ddof=1); NaN when n < 2."""
        return _sample_covariance(self.n, self.sum_num, self.sum_den, self.sum_num_den)

    @property
    def ratio_variance(self) -> float:
        """Delta-method variance of :attr:`ratio` (not per user: already divided by n)."""
        if self.n < 2 or self.sum_den == 0:
            return math.nan
        m, d = self.num.mean, self.den.mean
        r = m / d
        inner = self.num.variance - 2.0 * r * self.covariance + r * r * self.den.variance
        return max(inner, 0.0) / (d * d * self.n)
