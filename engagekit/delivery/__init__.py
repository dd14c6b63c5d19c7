"""Delivery: execute a campaign plan through a channel, exactly once per (run, endpoint, step).

    >>> report = deliver(project, plan)                      # doctest: +SKIP
    >>> report.sent, report.failed, report.skipped           # doctest: +SKIP
    (9812, 41, 147)

``deliver`` sends the plan's ``scheduled`` rows (never holdouts) whose ``due_at`` has come, in
batches: claim a batch in the ledger, re-check consent, render, pace, send, complete the batch
in the ledger, write events. Call it again with the same plan to resume: rows already completed
are left alone.

The guarantee, precisely
------------------------
* Each ledger row is handed to a provider by at most one worker at a time (claims are SQLite
  transactions), and a completed row is never sent again.
* A message is sent only after its row was claimed (``sending``), and the row is completed only
  after the provider answered; workers journal "handing over" and "answered" per message.
* After a process crash (SIGKILL, the OOM killer, an exception, a lost connection) a later
  ``deliver`` recovers the dead worker's rows from its journal: answered rows are completed,
  rows never handed over are sent normally. What remains *in doubt* is a message whose content
  reached the provider but whose answer was never noted — at most one per connection of the
  dead worker. (The journal is not fsynced, for speed: after an operating-system crash or a power
  loss its last lines may be missing, and those rows count as in doubt too.)
* In-doubt rows are resent (``in_doubt="resend"``, the default) with the **same** identity:
  the simulator dedups on the idempotency key; webhook receivers get the same
  ``IdempotencyKey`` per endpoint; SMTP repeats the same deterministic ``Message-ID`` and, to
  servers advertising ``CHECKPOINT`` (RFC 1845), the same ``TRANSID``; APNs gets the same
  ``apns-id`` and ``apns-collapse-id`` (the device replaces the copy) and FCM the same collapse
  key; SES gets the same ``X-Engagekit-Key`` header and tags and End User Messaging the same
  ``Context`` key, which neither service dedups on. With ``in_doubt="fail"`` they are recorded
  failed (``IN_DOUBT``) instead: at most once. So: exactly once when the provider dedups
  (simulator, webhook receivers that honour the key, checkpointing SMTP servers, receivers that
  drop repeated Message-IDs); otherwise exactly once except the in-doubt rows, which are at least
  once (``resend``) or at most once (``fail``) — and the ledger names them (``error``).
* Opted-out endpoints and suppressed addresses are checked when the batch holding them is
  prepared (at most one batch before it is sent): an opt-out recorded before that moment is
  always honoured.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pandas as pd

from engagekit import channels as channel_registry
from engagekit.channels import Channel, Message, SendResult, idempotency_key
from engagekit.delivery import _ledger as L
from engagekit.delivery._events import append_events, ledger_events
from engagekit.delivery._pacing import Bucket, Pacer, chunk_size
from engagekit.errors import ChannelError, DeliveryError
from engagekit.store import isonow

Renderer = Callable[[pd.DataFrame], pd.DataFrame]

PLAN_COLUMNS = ("run_id", "endpoint_id", "address", "channel_type")
_RETRYABLE = ("retry",)


@dataclass
class DeliveryReport:
    """What one ``deliver`` call did. Counts are of ledger rows completed by this call."""

    run_ids: list[str]
    channels: list[str]
    planned: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0
    already_done: int = 0
    recovered: int = 0
    in_doubt: int = 0
    retries: int = 0
    elapsed: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    deferred_reasons: Counter[str] = field(default_factory=Counter)
    next_capacity_at: datetime | None = None

    @property
    def rate(self) -> float:
        """Messages handed over per second of this call."""
        return (self.sent + self.failed) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Every planned row has a final state."""
        return self.deferred == 0

    def merge(self, other: DeliveryReport) -> None:
        for name in ("sent", "failed", "skipped", "recovered", "in_doubt", "retries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.update(other.outcomes)
        self.deferred_reasons.update(other.deferred_reasons)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "value": [self.planned, self.sent, self.failed, self.skipped, self.deferred,
                          self.already_done, self.recovered, self.in_doubt, self.retries,
                          round(self.elapsed, 3), round(self.rate, 1)],
            },
            index=["planned", "sent", "failed", "skipped", "deferred", "already_done",
                   "recovered", "in_doubt", "retries", "elapsed_s", "messages_per_s"],
        )  # fmt: skip

    def _repr_html_(self) -> str:
        return self.to_frame().to_html()


# -- rendering seam ----------------------------------------------------------------------------
class TemplateRenderer:
    """The default renderer: the plan's pinned template versions over the project's endpoints.

    Picklable (worker processes rebuild it); loads templates and the endpoint snapshot lazily.
    """

    def __init__(self, project: Any) -> None:
        self.project_path = project.path
        self._project = project
        self._templates: dict[tuple[str, int | None], Any] = {}
        self._endpoints: pd.DataFrame | None = None
        self._positions: pd.Index | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"project_path": self.project_path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from engagekit.project import Project

        self.project_path = state["project_path"]
        self._project = Project.open(self.project_path)
        self._templates = {}
        self._endpoints = None
        self._positions = None

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from engagekit import templates

        endpoints = self._load_endpoints()
        if self._positions is None:
            self._positions = pd.Index(endpoints["Id"].astype(str))
        if self._positions.is_unique:
            found = self._positions.get_indexer(batch["endpoint_id"].astype(str))
            subset = endpoints.iloc[found[found >= 0]]
        else:
            subset = endpoints[endpoints["Id"].isin(batch["endpoint_id"])]
        frames = []
        versions = batch.get("template_version")
        keys = (
            list(zip(batch["template"], versions, strict=True))
            if versions is not None
            else [(t, None) for t in batch["template"]]
        )
        groups: dict[tuple[str, Any], list[Any]] = {}
        for idx, key in zip(batch.index, keys, strict=True):
            groups.setdefault(key, []).append(idx)
        for (name, version), idx in groups.items():
            key = (str(name), None if pd.isna(version) else int(version))
            if key not in self._templates:
                self._templates[key] = templates.load_template(self._project, key[0], key[1])
            frames.append(templates.render_batch(batch.loc[idx], self._templates[key], subset))
        return pd.concat(frames).reindex(batch.index) if frames else pd.DataFrame(index=batch.index)

    def _load_endpoints(self) -> pd.DataFrame:
        if self._endpoints is None:
            self._endpoints = _read_endpoints(self._project)
        return self._endpoints


def _pylist(column: pd.Series) -> list[Any]:
    """A column as Python values (Arrow-backed columns convert in C, not element by element)."""
    arrow = getattr(column.array, "__arrow_array__", None)
    if arrow is not None:
        import pyarrow as pa

        return pa.array(column.array).to_pylist()
    return column.tolist()


def _read_endpoints(project: Any, columns: list[str] | None = None) -> pd.DataFrame:
    from engagekit import endpoints

    reader = getattr(endpoints, "read_endpoints", None)
    if reader is not None:
        return reader(project, columns=columns)
    path = project.store.endpoints_path
    if not path.exists():
        return pd.DataFrame({"Id": pd.Series([], dtype="string")})
    return pd.read_parquet(path, columns=columns)


def _opted_out_endpoints(project: Any) -> set[str]:
    path = project.store.endpoints_path
    if not path.exists():
        return set()
    try:
        df = _read_endpoints(project, columns=["Id", "OptOut"])
    except (KeyError, ValueError):
        return set()
    return set(df.loc[df["OptOut"].astype("string") == "ALL", "Id"].astype(str))


# -- deliver -----------------------------------------------------------------------------------
def deliver(
    project: Any,
    plan: pd.DataFrame,
    *,
    channel: str | Channel | None = None,
    now: datetime | None = None,
    render: Renderer | None = None,
    batch_size: int = 2000,
    messages_per_second: float | None = None,
    max_attempts: int = 5,
    retry_base: float = 0.5,
    retry_cap: float = 30.0,
    in_doubt: Literal["resend", "fail"] = "resend",
    progress: bool = True,
    events: bool = True,
    event_flush: int = 10_000,
    on_batch: Callable[[DeliveryReport], None] | None = None,
    workers: int = 1,
    _reserved: bool = False,
) -> DeliveryReport:
    """Send the plan's scheduled rows once; resumable (see the module docstring).

    ``channel``: a configured channel name, a registered type, or an instance; by default each
    row's ChannelType picks the first configured channel that accepts it. ``render`` maps a batch
    of plan rows to a DataFrame of message parts (``Subject``/``HtmlPart``/``TextPart``,
    ``Body``/``Title``...) plus an optional ``render_error`` column; by default the plan's pinned
    template versions are rendered over the project's endpoints. ``messages_per_second`` paces the
    campaign (default: the campaign's Limits.MessagesPerSecond, else the project's), shared with
    every other process delivering the same campaign. Transient failures (throttling, timeouts,
    dropped connections, 4xx) are retried up to ``max_attempts`` with exponential backoff and
    full jitter (``retry_base * 2**k`` capped at ``retry_cap`` seconds).

    ``workers > 1`` starts that many processes in all (this one included) that claim batches
    from the same ledger; ``render`` must then be picklable and ``channel`` a name. Any number of
    independent processes (two notebooks, a cron job) may also deliver the same plan at once.
    """
    if workers > 1:
        return _deliver_parallel(
            project, plan, workers=workers, channel=channel, now=now, render=render,
            batch_size=batch_size, messages_per_second=messages_per_second,
            max_attempts=max_attempts, retry_base=retry_base, retry_cap=retry_cap,
            in_doubt=in_doubt, progress=progress, events=events, event_flush=event_flush,
            on_batch=on_batch,
        )  # fmt: skip
    started = time.perf_counter()
    _check_plan(plan)
    store = project.store
    sched = _sendable(plan)
    run_ids = sorted(sched["run_id"].astype(str).unique()) if len(sched) else []
    report = DeliveryReport(run_ids=run_ids, channels=[], planned=len(sched))
    if sched.empty:
        return report

    # channel per row
    routes = _route(project, sched, channel)
    report.channels = sorted({ch.name for ch in routes.values()})
    ch_of_type = {ct: ch.name for ct, ch in routes.items()}
    ctypes = sched["channel_type"].astype(str) if "channel_type" in sched else None
    step = sched["step"].astype(str) if "step" in sched else pd.Series("send", index=sched.index)
    rows = _ledger_rows(sched, step, ctypes, ch_of_type)
    if not _reserved:
        L.reserve(store, rows)
    key_to_pos = {
        (r[0], r[1], r[2]): i for i, r in enumerate(rows)
    }  # (run, endpoint, step) -> sched position

    report.already_done = _count_done(store, run_ids)
    worker = L.Worker(store)
    render = render or TemplateRenderer(project)
    opted_out = _opted_out_endpoints(project)
    cutoff = (now or datetime.now(UTC)).isoformat(timespec="microseconds")
    rate = _campaign_rate(project, sched, messages_per_second)
    campaign = str(sched["campaign"].iloc[0]) if "campaign" in sched else run_ids[0]
    bar = _progress(progress, _count_pending(store, run_ids))
    keep_journal = True
    try:
        for name in report.channels:
            _recover(store, worker, run_ids, report, resend=in_doubt == "resend")
            ch = next(c for c in routes.values() if c.name == name)
            ch.journal = worker
            ch.open()
            pacer = Pacer(
                store,
                [Bucket(f"channel:{name}", ch.max_send_rate), Bucket(f"campaign:{campaign}", rate)],
            )
            run = _ChannelRun(
                project, ch, worker, pacer, render, sched, key_to_pos, opted_out, report,
                max_attempts=max_attempts, retry_base=retry_base, retry_cap=retry_cap,
                in_doubt=in_doubt, bar=bar, events=events, event_flush=event_flush,
                on_batch=on_batch, shared_progress=_reserved,
            )  # fmt: skip
            run.execute(run_ids, batch_size, cutoff)
        if events:
            _flush_orphan_events(project, run_ids)
        keep_journal = _owned_sending(store, worker.owner) > 0
    finally:
        for ch in {id(c): c for c in routes.values()}.values():
            ch.journal = None
            ch.close()
        worker.close(keep_journal=keep_journal)
        if bar is not None:
            bar.close()
    report.deferred = _count_pending(store, run_ids)
    report.elapsed = time.perf_counter() - started
    return report


def _deliver_parallel(project: Any, plan: pd.DataFrame, *, workers: int, **kwargs: Any) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if isinstance(kwargs.get("channel"), Channel):
        raise DeliveryError("with workers > 1 pass the channel by name, not as an instance")
    if kwargs.get("render") is None:
        kwargs["render"] = TemplateRenderer(project)
    _check_plan(plan)
    started = time.perf_counter()
    deliver_reserve(project, plan, channel=kwargs.get("channel"))  # once, workers only claim
    child_kwargs = dict(kwargs, progress=False, on_batch=None, _reserved=True)
    # fork starts workers in milliseconds with the plan already in memory (the parent has no
    # delivery threads yet); platforms without fork spawn fresh interpreters
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(workers - 1, mp_context=ctx) as pool:
        futures = [
            pool.submit(_worker_main, str(project.path), plan, child_kwargs)
            for _ in range(workers - 1)
        ]
        report = deliver(project, plan, **dict(kwargs, _reserved=True))
        for f in futures:
            report.merge(f.result())
    report.deferred = _count_pending(project.store, report.run_ids)
    report.elapsed = time.perf_counter() - started
    return report


def _worker_main(project_path: str, plan: pd.DataFrame, kwargs: dict[str, Any]) -> Any:
    from engagekit.project import Project

    return deliver(Project.open(project_path), plan, **kwargs)


def deliver_reserve(project: Any, plan: pd.DataFrame, *, channel: Any = None) -> int:
    """Write the plan's sendable rows to the ledger as ``pending`` (what deliver does first)."""
    sched = _sendable(plan)
    if sched.empty:
        return 0
    routes = _route(project, sched, channel)
    ch_of_type = {ct: ch.name for ct, ch in routes.items()}
    for ch in {id(c): c for c in routes.values()}.values():
        ch.close()
    step = sched["step"].astype(str) if "step" in sched else pd.Series("send", index=sched.index)
    return L.reserve(
        project.store, _ledger_rows(sched, step, sched["channel_type"].astype(str), ch_of_type)
    )


def _sendable(plan: pd.DataFrame) -> pd.DataFrame:
    """Rows with status scheduled, never holdouts, renumbered 0..n-1."""
    sched = plan
    if "status" in plan:
        sched = sched[sched["status"].astype("string").fillna("scheduled") == "scheduled"]
    if "holdout" in sched:
        sched = sched[~sched["holdout"].fillna(False).astype(bool)]
    if "treatment_id" in sched:
        sched = sched[sched["treatment_id"].astype("string") != "holdout"]
    return sched.reset_index(drop=True)


def _check_plan(plan: pd.DataFrame) -> None:
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise DeliveryError(
            f"the plan lacks the columns {missing}; expected a frame from "
            f"engagekit.campaigns.plan_campaign (run_id, endpoint_id, address, channel_type, "
            f"template, template_version, status, ...)"
        )


def _route(project: Any, sched: pd.DataFrame, channel: str | Channel | None) -> dict[str, Channel]:
    """ChannelType -> channel instance (one instance per configured channel)."""
    types = sorted(sched["channel_type"].astype(str).unique())
    if isinstance(channel, Channel):
        chosen = {t: channel for t in types}
    elif channel is not None:
        inst = channel_registry.open_channel(project, channel)
        chosen = {t: inst for t in types}
    else:
        instances: dict[str, Channel] = {}
        chosen = {}
        for t in types:
            for name in project.settings.channels:
                inst = instances.get(name) or channel_registry.open_channel(project, name)
                if inst.accepts(t):
                    instances[name] = inst
                    chosen[t] = inst
                    break
            else:
                raise ChannelError(
                    f"no configured channel accepts {t} endpoints; configured: "
                    f"{', '.join(project.settings.channels) or 'none'}. Add one under "
                    f"[channels.<name>] in engagekit.toml or pass channel= to deliver()"
                )
    for t, inst in chosen.items():
        if not inst.accepts(t):
            raise ChannelError(f"channel {inst.name!r} cannot send {t} messages", channel=inst.name)
    return chosen


def _ledger_rows(
    sched: pd.DataFrame,
    step: pd.Series,
    ctypes: pd.Series | None,
    ch_of_type: Mapping[str, str],
) -> list[tuple[Any, ...]]:
    def col(name: str, default: str = "") -> list[Any]:
        if name not in sched:
            return [default] * len(sched)
        return [default if pd.isna(v) else str(v) for v in sched[name]]

    due = (
        [
            None if pd.isna(v) else pd.Timestamp(v).tz_convert("UTC").isoformat(
                timespec="microseconds")
            for v in sched["due_at"]
        ]
        if "due_at" in sched
        else [None] * len(sched)
    )  # fmt: skip
    runs, eps, steps = col("run_id"), col("endpoint_id"), [str(s) for s in step]
    types = list(ctypes) if ctypes is not None else ["EMAIL"] * len(sched)
    return [
        (run, ep, st, camp, treat, ch_of_type[ct], addr, user, ct,
         idempotency_key(run, ep, st), i, d)
        for i, (run, ep, st, camp, treat, addr, user, ct, d) in enumerate(
            zip(runs, eps, steps, col("campaign"), col("treatment_id", "0"), col("address"),
                col("user_id"), types, due, strict=True)
        )
    ]  # fmt: skip


def _count_done(store: Any, run_ids: Sequence[str]) -> int:
    marks = ",".join("?" * len(run_ids))
    return int(
        store.connect()
        .execute(
            f"SELECT COUNT(*) FROM ledger WHERE run_id IN ({marks}) AND status IN "
            "('sent','failed','skipped')",
            tuple(run_ids),
        )
        .fetchone()[0]
    )


def _count_pending(store: Any, run_ids: Sequence[str]) -> int:
    marks = ",".join("?" * len(run_ids))
    return int(
        store.connect()
        .execute(
            f"SELECT COUNT(*) FROM ledger WHERE run_id IN ({marks}) AND status IN "
            "('pending','sending')",
            tuple(run_ids),
        )
        .fetchone()[0]
    )


def _owned_sending(store: Any, owner: str) -> int:
    return int(
        store.connect()
        .execute("SELECT COUNT(*) FROM ledger WHERE owner=? AND status='sending'", (owner,))
        .fetchone()[0]
    )


def _campaign_rate(project: Any, sched: pd.DataFrame, explicit: float | None) -> float:
    if explicit is not None:
        return float(explicit)
    if "campaign" in sched and "campaign_version" in sched:
        name = str(sched["campaign"].iloc[0])
        version = sched["campaign_version"].iloc[0]
        try:
            body = project.store.get_definition(
                "campaign", name, None if pd.isna(version) else int(version)
            ).body
        except Exception:
            body = {}
        limits = body.get("Limits") or body.get("limits") or {}
        mps = limits.get("MessagesPerSecond") or limits.get("messages_per_second")
        if mps:
            return float(mps)
    return float(project.settings.limits.messages_per_second or 0)


def _progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="deliver", unit="msg", smoothing=0.1)


def _recover(
    store: Any, worker: L.Worker, run_ids: Sequence[str], report: DeliveryReport, *, resend: bool
) -> None:
    for owner in L.dead_owners(store, run_ids, worker.owner):
        with L.recovering(store, owner) as got:
            if not got:
                continue
            rows = L.orphan_rows(store, owner, run_ids)
            journal = L.read_journal(store.root / "delivery" / f"{L._safe(owner)}.journal")
            rec = L.plan_recovery(rows, journal)
            suppress = _suppressions(store, rows, rec.completed, source=f"recovered:{owner}")
            L.complete(store, rec.completed, suppress)
            with store.transaction() as conn:
                L.release(conn, rec.released)
                L.mark_in_doubt(conn, rec.in_doubt, owner, resend=resend)
            report.recovered += len(rec.completed)
            report.in_doubt += len(rec.in_doubt)
            if not L.orphan_rows(store, owner, run_ids):
                L.forget_owner(store, owner)


def _suppressions(
    store: Any, rows: Sequence[Any], done: Sequence[L.Completion], *, source: str
) -> list[tuple[str, str, str]]:
    by_id = {int(r["rowid"]): r for r in rows}
    out = []
    for c in done:
        reason = {"hardbounce": "BOUNCE", "complaint": "COMPLAINT", "optout": "OPT_OUT"}.get(
            c.outcome or ""
        )
        if reason:
            out.append((str(by_id[c.rowid]["address"]), reason, source))
    return out


def _flush_orphan_events(project: Any, run_ids: Sequence[str]) -> None:
    """Events of completed rows that never reached the lake (e.g. completed by recovery)."""
    store = project.store
    marks = ",".join("?" * len(run_ids))
    while True:
        rows = (
            store.connect()
            .execute(
                f"SELECT {L.ROW_COLUMNS} FROM ledger WHERE run_id IN ({marks}) AND status IN "
                "('sent','failed','skipped') AND events_at IS NULL LIMIT 20000",
                tuple(run_ids),
            )
            .fetchall()
        )
        if not rows:
            return
        _emit(project, rows)


def _emit(project: Any, rows: Sequence[Any]) -> None:
    frame = ledger_events(rows, pd.Timestamp.now(tz="UTC"))
    append_events(project, frame)
    now = isonow()
    ids = [int(r["rowid"]) for r in rows]
    with project.store.transaction() as conn:
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            conn.execute(
                f"UPDATE ledger SET events_at=? WHERE rowid IN ({','.join('?' * len(chunk))})",
                (now, *chunk),
            )


class _ChannelRun:
    """The batch loop of one channel within one ``deliver`` call."""

    def __init__(
        self,
        project: Any,
        ch: Channel,
        worker: L.Worker,
        pacer: Pacer,
        render: Renderer,
        sched: pd.DataFrame,
        key_to_pos: Mapping[tuple[str, str, str], int],
        opted_out: set[str],
        report: DeliveryReport,
        *,
        max_attempts: int,
        retry_base: float,
        retry_cap: float,
        in_doubt: str,
        bar: Any,
        events: bool,
        event_flush: int,
        on_batch: Callable[[DeliveryReport], None] | None,
        shared_progress: bool = False,
    ) -> None:
        self.project, self.store, self.ch, self.worker = project, project.store, ch, worker
        self.pacer, self.render, self.sched, self.key_to_pos = pacer, render, sched, key_to_pos
        self.opted_out, self.report = opted_out, report
        self.max_attempts, self.retry_base, self.retry_cap = max_attempts, retry_base, retry_cap
        self.in_doubt, self.bar, self.events, self.event_flush = in_doubt, bar, events, event_flush
        self.on_batch = on_batch
        self.shared_progress = shared_progress
        self.stop: str | None = None
        self._answered_at: dict[int, str] = {}
        self.run_ids: Sequence[str] = ()
        self._unflushed: list[int] = []
        self._token_key: bytes | None = None
        self._unsub = bool(
            ch.settings.get("unsubscribe_url") or ch.settings.get("unsubscribe_mailto")
        )

    def execute(self, run_ids: Sequence[str], batch_size: int, cutoff: str) -> None:
        """Claim, prepare and send batches; batch k+1 is prepared while batch k is sending."""
        from concurrent.futures import Future, ThreadPoolExecutor

        ch = self.ch
        self.run_ids = run_ids
        quota = ch.max_24_hour_send
        inflight: Future[Any] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="deliver-send") as sender:
            try:
                while True:
                    since = (datetime.now(UTC) - timedelta(hours=24)).isoformat(
                        timespec="microseconds"
                    )
                    claimed, reason = L.claim(
                        self.store, self.worker, run_ids, ch.name, batch_size,
                        due_before=cutoff, quota=quota, quota_since=since,
                    )  # fmt: skip
                    prepared = self._prepare(claimed) if claimed else None
                    finished = None
                    if inflight is not None:
                        finished = inflight.result()
                        inflight = None
                    if prepared is not None:  # keep the sender busy while batch k completes
                        inflight = sender.submit(self._send_prepared, prepared)
                    if finished is not None:
                        self._finish(*finished)
                    if self.stop or reason == "QUOTA_24H" or not claimed:
                        break
                if inflight is not None:
                    self._finish(*inflight.result())
                    inflight = None
            finally:
                if inflight is not None:  # an error elsewhere: let the send end, keep its rows
                    with contextlib.suppress(Exception):
                        self._finish(*inflight.result())
        if self.stop:
            self.report.deferred_reasons[self.stop] += _count_pending(self.store, run_ids)
        elif reason == "QUOTA_24H":
            self._defer_quota(run_ids, since)
        self._flush_events(force=True)

    def _defer_quota(self, run_ids: Sequence[str], since: str) -> None:
        left = _count_pending(self.store, run_ids)
        self.report.deferred_reasons["QUOTA_24H"] += left
        oldest = L.oldest_in_window(self.store.connect(), self.ch.name, since)
        if oldest:
            self.report.next_capacity_at = datetime.fromisoformat(oldest) + timedelta(hours=24)

    # -- one batch ---------------------------------------------------------------------------
    def _prepare(self, claimed: Sequence[Any]) -> tuple[list[L.Completion], list[Message], dict]:
        """Consent and sandbox checks, rendering and the spend limit for a claimed batch."""
        done: list[L.Completion] = []
        blocked = self._suppressed({str(r["address"]).lower() for r in claimed})
        live = []
        for r in claimed:
            if str(r["endpoint_id"]) in self.opted_out or str(r["address"]).lower() in blocked:
                code = "OPTED_OUT" if str(r["endpoint_id"]) in self.opted_out else "SUPPRESSED"
                done.append(L.Completion(int(r["rowid"]), "skipped", error_code=code,
                                         error=blocked.get(str(r["address"]).lower(), code),
                                         attempts=int(r["attempts"])))  # fmt: skip
            elif self.ch.sandbox and not self.ch.is_verified(str(r["address"])):
                done.append(L.Completion(
                    int(r["rowid"]), "failed", outcome="rejected", error_code="SANDBOX_UNVERIFIED",
                    error="sandbox mode: the recipient is not a verified identity; verify it or "
                    "set sandbox = false for this channel in engagekit.toml",
                    attempts=int(r["attempts"])))  # fmt: skip
            else:
                live.append(r)
        messages, render_failed = self._messages(live)
        done += render_failed
        messages = self._admit_spend(messages)
        return done, messages, {int(r["rowid"]): r for r in claimed}

    def _send_prepared(
        self, prepared: tuple[list[L.Completion], list[Message], dict]
    ) -> tuple[list[L.Completion], list[Message], dict, dict[int, SendResult]]:
        done, messages, by_id = prepared
        return done, messages, by_id, self._send(messages)

    def _finish(
        self,
        done: list[L.Completion],
        messages: list[Message],
        by_id: dict[int, Any],
        results: dict[int, SendResult],
    ) -> None:
        """Complete a sent batch in the ledger (one transaction) and count it."""
        suppress: list[tuple[str, str, str]] = []
        for m in messages:
            res = results.get(m.ledger_id)
            if res is None:
                continue
            c = self._completion(by_id[m.ledger_id], res)
            done.append(c)
            reason = {"hardbounce": "BOUNCE", "complaint": "COMPLAINT", "optout": "OPT_OUT"}.get(
                res.outcome or ""
            )
            if reason:
                suppress.append((m.address, reason, m.run_id))
        L.complete(self.store, done, suppress)
        rep = self.report
        for c in done:
            if c.status == "sent":
                rep.sent += 1
            elif c.status == "failed":
                rep.failed += 1
            else:
                rep.skipped += 1
            rep.outcomes[c.outcome or c.error_code or c.status] += 1
        if self.bar is not None:
            if self.shared_progress:  # other processes complete rows too
                left = _count_pending(self.store, self.run_ids)
                self.bar.update(max(0, self.bar.total - left - self.bar.n))
            else:
                self.bar.update(len(done))
            elapsed = self.bar.format_dict.get("elapsed") or 0
            self.bar.set_postfix(
                sent=rep.sent, failed=rep.failed,
                rate=f"{(rep.sent + rep.failed) / elapsed:.0f}/s" if elapsed else "-",
                refresh=False,
            )  # fmt: skip
        self._unflushed += [c.rowid for c in done]
        self._flush_events()
        if self.on_batch is not None:
            self.on_batch(self.report)

    def _suppressed(self, addresses: set[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        conn = self.store.connect()
        items = sorted(addresses)
        for start in range(0, len(items), 900):
            chunk = items[start : start + 900]
            out.update(
                conn.execute(
                    "SELECT address, reason FROM suppression WHERE address IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            )
        return out

    def _messages(self, rows: Sequence[Any]) -> tuple[list[Message], list[L.Completion]]:
        if not rows:
            return [], []
        positions = [self.key_to_pos[(r["run_id"], r["endpoint_id"], r["step"])] for r in rows]
        batch = self.sched.iloc[positions]
        try:
            parts = self.render(batch)
        except DeliveryError:
            raise
        except Exception as exc:
            parts = pd.DataFrame({"render_error": str(exc)}, index=batch.index)
        parts = parts.reindex(batch.index)
        errors = parts["render_error"].tolist() if "render_error" in parts else [None] * len(batch)
        part_cols = [c for c in parts.columns if c != "render_error"]
        values = [_pylist(parts[c]) for c in part_cols]
        messages, failed = [], []
        for i, r in enumerate(rows):
            err = errors[i]
            if isinstance(err, str) and err:
                failed.append(L.Completion(
                    int(r["rowid"]), "failed", outcome="rendering_failure",
                    error_code="RENDERING_FAILURE", error=err[:1000],
                    attempts=int(r["attempts"])))  # fmt: skip
                continue
            rec = {c: v[i] for c, v in zip(part_cols, values, strict=True)}
            messages.append(
                Message(
                    run_id=r["run_id"],
                    endpoint_id=r["endpoint_id"],
                    step=r["step"],
                    address=r["address"],
                    channel_type=r["channel_type"] or "EMAIL",
                    campaign=r["campaign"] or "",
                    treatment_id=r["treatment"] or "0",
                    user_id=r["user_id"] or "",
                    parts={k: str(v) for k, v in rec.items() if isinstance(v, str)},
                    idempotency_key=r["idempotency_key"],
                    unsubscribe=(
                        {"token": self._unsubscribe_token(r["endpoint_id"])} if self._unsub else {}
                    ),
                    ledger_id=int(r["rowid"]),
                )
            )
        return messages, failed

    def _unsubscribe_token(self, endpoint_id: str) -> str:
        if self._token_key is None:
            from engagekit.consent import signing_key

            self._token_key = signing_key(self.project)
        from engagekit.consent import make_token

        return make_token(self._token_key, endpoint_id)

    def _admit_spend(self, messages: list[Message]) -> list[Message]:
        limit = float(self.ch.settings.get("monthly_spend_limit", 0) or 0)
        costs = [self.ch.message_cost(m) for m in messages]
        if not any(c for _, c in costs) and not limit:
            return messages
        month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        since = month.isoformat(timespec="microseconds")
        admitted, refused = [], []
        with self.store.transaction() as conn:
            spent = float(
                conn.execute(
                    "SELECT COALESCE(SUM(cost), 0) FROM ledger WHERE channel=? AND "
                    "((sent_at>=?) OR (status='sending' AND claimed_at>=? AND cost IS NOT NULL))",
                    (self.ch.name, since, since),
                ).fetchone()[0]
            )
            updates = []
            for m, (country, cost) in zip(messages, costs, strict=True):
                if limit and spent + cost > limit + 1e-9:
                    refused.append(m.ledger_id)
                    continue
                spent += cost
                admitted.append(m)
                updates.append((cost, country, m.ledger_id))
            conn.executemany("UPDATE ledger SET cost=?, country=? WHERE rowid=?", updates)
            if refused:
                L.release(conn, refused, error_code="SPEND_LIMIT")
        if refused:
            self.stop = "SPEND_LIMIT"  # the rest of the run waits for next month's budget
        return admitted

    def _send(self, messages: list[Message]) -> dict[int, SendResult]:
        results: dict[int, SendResult] = {}
        todo = messages
        attempt = 0
        n = chunk_size(self.pacer.rate, len(messages) or 1)
        while todo:
            attempt += 1
            answers: list[tuple[Message, SendResult]] = []
            for start in range(0, len(todo), n):
                chunk = todo[start : start + n]
                self.pacer.wait(len(chunk))
                answers += zip(chunk, self.ch.send_batch(chunk), strict=True)
                stamp = isonow()
                for m in chunk:
                    self._answered_at[m.ledger_id] = stamp
            todo = []
            for m, res in answers:
                again = res.status in _RETRYABLE or (
                    res.status == "in_doubt" and (self.ch.idempotent or self.in_doubt == "resend")
                )
                if again and attempt < self.max_attempts:
                    todo.append(m)
                    if res.status == "in_doubt":
                        self.report.in_doubt += 1
                    continue
                if res.status == "in_doubt":  # in_doubt="fail": at most once
                    res = SendResult(
                        "failed",
                        error_code="IN_DOUBT",
                        error=f"outcome unknown, not resent (in_doubt='fail'): {res.error or ''}",
                    )
                elif res.status == "retry":
                    res = SendResult(
                        "failed",
                        outcome=res.outcome,
                        error_code=res.error_code or "GAVE_UP",
                        error=f"gave up after {attempt} attempts: {res.error or ''}".strip(),
                    )
                results[m.ledger_id] = res
            if todo:
                self.report.retries += len(todo)
                hinted = max((r.retry_after or 0) for _, r in answers)
                delay = min(self.retry_cap, self.retry_base * 2 ** (attempt - 1))
                time.sleep(max(hinted, random.uniform(0, delay)))
        return results

    def _completion(self, r: Any, res: SendResult) -> L.Completion:
        note = None
        if r["error_code"] == "IN_DOUBT" and res.status == "sent":
            note = L._RESENT
        handed = res.status == "sent" or res.outcome in ("hardbounce", "rejected", "optout")
        return L.Completion(
            int(r["rowid"]),
            res.status if res.status in ("sent", "failed") else "failed",
            message_id=res.message_id,
            outcome=res.outcome,
            error_code=res.error_code if res.status != "sent" else None,
            error=res.error or note,
            sent_at=self._answered_at.pop(int(r["rowid"]), None) or isonow() if handed else None,
            attempts=int(r["attempts"]),
        )

    def _flush_events(self, force: bool = False) -> None:
        if not self.events or not self._unflushed:
            return
        if not force and len(self._unflushed) < self.event_flush:
            return
        ids, self._unflushed = self._unflushed, []
        rows = L._select(self.store.connect(), ids)
        _emit(self.project, rows)


def ledger(project: Any, run_id: str | None = None) -> pd.DataFrame:
    """The ledger rows (all, or of one run) as a DataFrame."""
    sql = f"SELECT {L.ROW_COLUMNS} FROM ledger"
    params: tuple[Any, ...] = ()
    if run_id is not None:
        sql += " WHERE run_id=?"
        params = (run_id,)
    rows = project.store.connect().execute(sql + " ORDER BY run_id, seq", params).fetchall()
    cols = [c.strip() for c in L.ROW_COLUMNS.split(",")]
    return pd.DataFrame([tuple(r) for r in rows], columns=cols).drop(columns="rowid")


__all__ = ["DeliveryReport", "TemplateRenderer", "deliver", "ledger"]
