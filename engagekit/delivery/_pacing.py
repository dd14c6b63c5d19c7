"""Pacing shared by every process delivering from one project.

Rates are token buckets kept as GCRA state (a *theoretical arrival time* per bucket) in the
project's SQLite ``rate_limits`` table, so two notebooks, a cron job and worker processes draw
from the same budget. A caller reserves ``n`` messages in one ``BEGIN IMMEDIATE`` transaction:
the reservation starts at ``max(now, tat)`` of every bucket involved and moves each bucket's
``tat`` by ``n / rate``; the caller then sleeps until its start. Reservations of one bucket
therefore start at least ``n / rate`` seconds apart, whoever makes them: the number of messages
handed to a channel in any window of ``T`` seconds is at most ``rate * T`` rounded up to whole
reservations of ``n`` (``n = 1`` below 50 messages per second). Measured at the receiver,
scheduling delays can make a late message meet the next one, so a receiver may count one extra
message per sending process in a window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from engagekit.store import Store


@dataclass(frozen=True)
class Bucket:
    """A rate in messages per second under a shared name (``channel:smtp``)."""

    name: str
    rate: float


def chunk_size(rate: float, batch: int) -> int:
    """Messages per reservation: 1 below 50/s, about 50 reservations a second above."""
    if rate <= 0:
        return batch
    return max(1, min(batch, math.floor(rate / 50)))


class Pacer:
    """Reserves sending slots from several shared buckets at once."""

    def __init__(self, store: Store, buckets: list[Bucket]) -> None:
        self.store = store
        self.buckets = [b for b in buckets if b.rate > 0]

    @property
    def rate(self) -> float:
        """The binding (smallest) rate, 0 when unlimited."""
        return min((b.rate for b in self.buckets), default=0.0)

    def reserve(self, n: int) -> float:
        """Reserve ``n`` messages; returns the wall-clock second at which they may start."""
        if not self.buckets or n <= 0:
            return time.time()
        names = [b.name for b in self.buckets]
        with self.store.transaction() as conn:
            marks = ",".join("?" * len(names))
            tats = dict(
                conn.execute(f"SELECT name, tat FROM rate_limits WHERE name IN ({marks})", names)
            )
            now = time.time()
            start = max([now, *(float(tats.get(name, 0.0)) for name in names)])
            conn.executemany(
                "INSERT INTO rate_limits (name, tat) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET tat=excluded.tat",
                [(b.name, start + n / b.rate) for b in self.buckets],
            )
        return start

    def wait(self, n: int) -> None:
        """Reserve ``n`` messages and sleep until they may be handed over."""
        start = self.reserve(n)
        delay = start - time.time()
        if delay > 0:
            time.sleep(delay)
