"""The delivery ledger (SQLite ``ledger`` table) and the per-worker journal.

Life of a ledger row (one per run, endpoint and step)::

    pending ──claim──► sending ──provider answered──► sent | failed
       ▲                  │
       └──── released ────┘   (quota, spend limit, crash recovery of a never-begun message)
    pending ──consent check──► skipped

A worker *claims* a batch of pending rows in one ``BEGIN IMMEDIATE`` transaction (status
``sending``, its owner id, ``claimed_at``), sends them, and completes the batch in a second
transaction. Between the two, its journal — an append-only file, one ``write(2)`` per line —
records ``B <row>`` right before the message is handed over and ``D <row> <answer>`` right after
the provider answered. A killed worker's journal survives it (the kernel keeps what ``write``
returned), so a later run knows for every ``sending`` row of a dead owner whether it was never
handed over (back to ``pending``), answered (completed from the journal), or *in doubt*: handed
over with no answer noted — at most one message per connection of the dead worker.

An owner is alive while it holds ``flock`` on its lock file; the kernel drops the lock when the
process dies, however it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engagekit.channels import Message, SendResult
from engagekit.store import Store, isonow

ROW_COLUMNS = (
    "rowid, run_id, endpoint_id, step, campaign, treatment, channel, address, status, "
    "message_id, error, error_code, outcome, attempts, user_id, channel_type, idempotency_key, "
    "cost, country, seq, due_at, claimed_at, sent_at, updated_at, owner"
)


_RESENT = "resent after an in-doubt attempt (same idempotency key)"


@dataclass
class Completion:
    """The final state of one row, written in a batch."""

    rowid: int
    status: str  # sent | failed | skipped
    message_id: str | None = None
    outcome: str | None = None
    error_code: str | None = None
    error: str | None = None
    sent_at: str | None = None
    attempts: int = 0


class Worker:
    """One delivering process: its owner id, the lock that says it is alive, its journal."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.dir = store.root / "delivery"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock_path = self.dir / f"{_safe(self.owner)}.lock"
        self.journal_path = self.dir / f"{_safe(self.owner)}.journal"
        self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    # -- journal (the channel calls these from its sending threads) --------------------------
    def begin(self, message: Message) -> None:
        os.write(self._fd, b"B\t%d\n" % message.ledger_id)

    def done(self, message: Message, result: SendResult) -> None:
        fields = (
            result.status,
            result.message_id or "",
            result.outcome or "",
            result.error_code or "",
            (result.error or "")[:500],
        )
        line = "\t".join(_clean(f) for f in fields)
        os.write(self._fd, b"D\t%d\t%s\n" % (message.ledger_id, line.encode("utf-8")))

    def close(self, *, keep_journal: bool) -> None:
        os.close(self._fd)
        if not keep_journal:
            with contextlib.suppress(FileNotFoundError):
                self.journal_path.unlink()
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()
        os.close(self._lock_fd)


def _safe(owner: str) -> str:
    return owner.replace(":", "_").replace("/", "_")


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


# -- reserve / claim / complete ----------------------------------------------------------------
def reserve(store: Store, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert pending rows (already present rows are left as they are); returns inserted count.

    Each tuple: run_id, endpoint_id, step, campaign, treatment, channel, address, user_id,
    channel_type, idempotency_key, seq, due_at.
    """
    now = isonow()
    with store.transaction() as conn:
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO ledger (run_id, endpoint_id, step, campaign, treatment, channel,"
            " address, user_id, channel_type, idempotency_key, seq, due_at, status, attempts,"
            " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'pending',0,?,?)",
            [(*r, now, now) for r in rows],
        )
        return conn.total_changes - before


def quota_used(conn: Any, channel: str, since: str) -> int:
    """Messages handed to ``channel`` (or claimed for it) since ``since`` (rolling quota)."""
    row = conn.execute(
        "SELECT (SELECT COUNT(*) FROM ledger WHERE channel=? AND sent_at>?)"
        " + (SELECT COUNT(*) FROM ledger WHERE channel=? AND status='sending' AND claimed_at>?"
        " AND sent_at IS NULL)",
        (channel, since, channel, since),
    ).fetchone()
    return int(row[0])


def oldest_in_window(conn: Any, channel: str, since: str) -> str | None:
    row = conn.execute(
        "SELECT MIN(sent_at) FROM ledger WHERE channel=? AND sent_at>?", (channel, since)
    ).fetchone()
    return row[0]


def claim(
    store: Store,
    worker: Worker,
    run_ids: Sequence[str],
    channel: str,
    limit: int,
    *,
    due_before: str,
    quota: int = 0,
    quota_since: str = "",
) -> tuple[list[Any], str | None]:
    """Claim up to ``limit`` due pending rows; returns (rows, reason when fewer were possible)."""
    marks = ",".join("?" * len(run_ids))
    reason = None
    with store.transaction() as conn:
        if quota:
            room = quota - quota_used(conn, channel, quota_since)
            if room <= 0:
                return [], "QUOTA_24H"
            if room < limit:
                limit, reason = room, "QUOTA_24H"
        ids = [
            r[0]
            for r in conn.execute(
                f"SELECT rowid FROM ledger WHERE run_id IN ({marks}) AND status='pending' "
                "AND channel=? AND (due_at IS NULL OR due_at<=?) ORDER BY seq LIMIT ?",
                (*run_ids, channel, due_before, limit),
            )
        ]
        if not ids:
            return [], None
        now = isonow()
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            conn.execute(
                "UPDATE ledger SET status='sending', owner=?, claimed_at=?, updated_at=?,"
                f" attempts=attempts+1 WHERE rowid IN ({','.join('?' * len(chunk))})",
                (worker.owner, now, now, *chunk),
            )
        rows = _select(conn, ids)
    return rows, reason


def _select(conn: Any, ids: Sequence[int]) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        out += conn.execute(
            f"SELECT {ROW_COLUMNS} FROM ledger WHERE rowid IN ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
    out.sort(key=lambda r: r["seq"] if r["seq"] is not None else 0)
    return out


def release(conn: Any, rowids: Iterable[int], *, error_code: str | None = None) -> None:
    """Put claimed rows back to pending (not handed over)."""
    now = isonow()
    conn.executemany(
        "UPDATE ledger SET status='pending', owner=NULL, claimed_at=NULL, cost=NULL,"
        " attempts=MAX(attempts-1, 0), error_code=COALESCE(?, error_code), updated_at=?"
        " WHERE rowid=? AND status='sending'",
        [(error_code, now, i) for i in rowids],
    )


def complete(
    store: Store, done: Sequence[Completion], suppress: Sequence[tuple[str, str, str]] = ()
) -> None:
    """Write final states (one transaction) and add (address, reason, source) to suppression."""
    if not done and not suppress:
        return
    now = isonow()
    with store.transaction() as conn:
        conn.executemany(
            "UPDATE ledger SET status=?, message_id=?, outcome=?, error_code=?, error=?,"
            " sent_at=?, attempts=MAX(attempts, ?), updated_at=?, owner=NULL WHERE rowid=?",
            [
                (c.status, c.message_id, c.outcome, c.error_code, c.error, c.sent_at,
                 c.attempts, now, c.rowid)
                for c in done
            ],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO suppression (address, reason, source, created_at) VALUES (?,?,?,?) "
            "ON CONFLICT (address) DO NOTHING",
            [(a.lower(), reason, source, now) for a, reason, source in suppress],
        )


# -- crash recovery ----------------------------------------------------------------------------
@dataclass
class Recovery:
    completed: list[Completion]
    released: list[int]
    in_doubt: list[int]


def read_journal(path: Path) -> dict[int, list[str]]:
    """Last journal entry per row id (``["B"]`` or ``["D", status, id, outcome, code, error]``)."""
    state: dict[int, list[str]] = {}
    if not path.exists():
        return state
    for raw in path.read_bytes().split(b"\n"):
        if not raw:
            continue
        parts = raw.decode("utf-8", "replace").split("\t")
        try:
            rowid = int(parts[1])
        except (IndexError, ValueError):
            continue  # a torn last line: that write never returned
        if parts[0] == "B":
            state[rowid] = ["B"]
        elif parts[0] == "D" and len(parts) >= 7:
            state[rowid] = ["D", *parts[2:7]]
    return state


def dead_owners(store: Store, run_ids: Sequence[str], me: str) -> list[str]:
    """Owners of ``sending`` rows of these runs whose process is gone."""
    marks = ",".join("?" * len(run_ids))
    owners = [
        r[0]
        for r in store.connect().execute(
            f"SELECT DISTINCT owner FROM ledger WHERE run_id IN ({marks}) AND status='sending'",
            tuple(run_ids),
        )
        if r[0] and r[0] != me
    ]
    return [o for o in owners if not _alive(store, o)]


def _alive(store: Store, owner: str) -> bool:
    path = store.root / "delivery" / f"{_safe(owner)}.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def recovering(store: Store, owner: str) -> Any:
    """Hold a dead owner's lock while recovering its rows (one recoverer at a time)."""
    path = store.root / "delivery" / f"{_safe(owner)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    try:
        yield True
    finally:
        os.close(fd)


def plan_recovery(rows: Sequence[Any], journal: dict[int, list[str]]) -> Recovery:
    """Decide each orphaned row's fate from its owner's journal."""
    rec = Recovery([], [], [])
    for r in rows:
        entry = journal.get(int(r["rowid"]))
        if entry is None:
            rec.released.append(int(r["rowid"]))
        elif entry[0] == "B" or entry[1] == "in_doubt":
            rec.in_doubt.append(int(r["rowid"]))
        elif entry[1] in ("sent", "failed"):
            _, status, mid, outcome, code, error = entry
            rec.completed.append(
                Completion(
                    int(r["rowid"]),
                    status,
                    message_id=mid or None,
                    outcome=outcome or None,
                    error_code=code or None,
                    error=error or (_RESENT if r["error_code"] == "IN_DOUBT" else None),
                    sent_at=r["claimed_at"] if status == "sent" or outcome else None,
                    attempts=int(r["attempts"]),
                )
            )
        else:  # answered "retry": not accepted
            rec.released.append(int(r["rowid"]))
    return rec


def orphan_rows(store: Store, owner: str, run_ids: Sequence[str]) -> list[Any]:
    marks = ",".join("?" * len(run_ids))
    return (
        store.connect()
        .execute(
            f"SELECT {ROW_COLUMNS} FROM ledger WHERE owner=? AND status='sending' "
            f"AND run_id IN ({marks})",
            (owner, *run_ids),
        )
        .fetchall()
    )


def mark_in_doubt(conn: Any, rowids: Iterable[int], owner: str, *, resend: bool) -> None:
    now = isonow()
    if resend:
        conn.executemany(
            "UPDATE ledger SET status='pending', owner=NULL, error_code='IN_DOUBT', error=?,"
            " updated_at=? WHERE rowid=? AND status='sending'",
            [(f"in doubt after worker {owner} died; resent with the same id", now, i)
             for i in rowids],
        )  # fmt: skip
    else:
        conn.executemany(
            "UPDATE ledger SET status='failed', owner=NULL, error_code='IN_DOUBT', error=?,"
            " updated_at=? WHERE rowid=? AND status='sending'",
            [(f"in doubt after worker {owner} died; not resent (in_doubt='fail')", now, i)
             for i in rowids],
        )  # fmt: skip


def forget_owner(store: Store, owner: str) -> None:
    for suffix in (".journal", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            (store.root / "delivery" / f"{_safe(owner)}{suffix}").unlink()
