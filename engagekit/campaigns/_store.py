"""The project shell: saved campaigns and their states, plans, runs, dry runs, direct runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from engagekit.campaigns._model import (
    _TEMPLATE_SLOT,
    _TRANSITIONS,
    HOLDOUT,
    KIND,
    Campaign,
    Channel,
    MessageConfiguration,
    TemplateConfiguration,
)
from engagekit.campaigns._plan import (
    PLAN_COLUMNS,
    allocation_check,
    default_run_id,
    plan_campaign,
    plan_direct,
    reason_counts,
)
from engagekit.errors import DefinitionError, NotFoundError
from engagekit.project import Project
from engagekit.schedules import (
    TIMESTAMP_DTYPE,
    occurrence_at,
    to_utc,
)


# ---- project store -----------------------------------------------------------------------------
def save_campaign(project: Project, campaign: Campaign, *, comment: str | None = None) -> int:
    """Validate references, pin segment/template versions, check edit rules, store a version."""
    pinned = pin_versions(project, campaign)
    try:
        previous = load_campaign(project, campaign.name)
    except NotFoundError:
        previous = None
    if previous is not None:
        check_edit(previous, pinned)
    return project.store.save_definition(
        KIND, pinned.name, pinned.model_dump(mode="json", by_alias=True), comment=comment
    )


def load_campaign(project: Project, name: str, version: int | None = None) -> Campaign:
    rec = project.store.get_definition(KIND, name, version)
    return Campaign.parse(rec.body)


def campaign_version(project: Project, name: str) -> int:
    return project.store.get_definition(KIND, name).version


def list_campaigns(project: Project, *, include_deleted: bool = False) -> pd.DataFrame:
    """One row per campaign: name, state, channel, treatments, holdout, schedule, versions."""
    heads = project.store.list_definitions(KIND, include_deleted=include_deleted)
    rows = []
    for _, head in heads.iterrows():
        c = Campaign.parse(project.store.get_definition(KIND, head["name"], int(
            head["active_version"])).body)  # fmt: skip
        rows.append(
            {
                "name": c.name,
                "state": c.state,
                "channel": c.channel,
                "segment": c.segment,
                "treatments": len(c.treatments),
                "holdout_percent": c.holdout_percent,
                "frequency": c.schedule.frequency,
                "version": int(head["active_version"]),
                "updated_at": head["updated_at"],
            }
        )
    columns = ["name", "state", "channel", "segment", "treatments", "holdout_percent",
               "frequency", "version", "updated_at"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def pin_versions(project: Project, campaign: Campaign) -> Campaign:
    """The campaign with its segment and templates pinned to existing versions.

    Unknown segments or templates raise :class:`DefinitionError` with the field path.
    """
    store = project.store
    seg_version = campaign.segment_version
    try:
        rec = store.get_definition("segment", campaign.segment, seg_version)
    except NotFoundError as exc:
        raise DefinitionError(str(exc), path="SegmentId", kind=KIND) from None
    seg_version = rec.version
    treatments = []
    for i, t in enumerate(campaign.treatments):
        ref = t.template_for(campaign.channel)
        if ref is None:
            treatments.append(t)
            continue
        slot = _TEMPLATE_SLOT[campaign.channel]
        alias = TemplateConfiguration.model_fields[slot].alias  # type: ignore[index]
        try:
            trec = store.get_definition("template", ref.name, ref.version)
        except NotFoundError as exc:
            raise DefinitionError(
                str(exc), path=f"Treatments.{i}.TemplateConfiguration.{alias}.Name", kind=KIND
            ) from None
        tc = t.template_configuration
        assert tc is not None and slot is not None
        new_ref = ref.model_copy(update={"version": trec.version})
        treatments.append(
            t.model_copy(update={"template_configuration": tc.model_copy(update={slot: new_ref})})
        )
    return campaign.model_copy(
        update={"segment_version": seg_version, "treatments": tuple(treatments)}
    )


def check_edit(old: Campaign, new: Campaign) -> None:
    """Pinpoint's edit rules: no frequency change once launched; no treatment change of a
    launched A/B test; states move only along allowed transitions."""
    if old.state == "deleted":
        raise DefinitionError(f"campaign {old.name!r} is deleted; copy it to reuse it", kind=KIND)
    if new.state != old.state and new.state not in _TRANSITIONS[old.state]:
        raise DefinitionError(
            f"cannot go from {old.state} to {new.state}; allowed: "
            f"{', '.join(_TRANSITIONS[old.state]) or 'none'}",
            path="State",
            kind=KIND,
        )
    if old.state == "draft":
        return
    if old.schedule.frequency != new.schedule.frequency:
        raise DefinitionError(
            f"the frequency of a launched campaign cannot change ({old.schedule.frequency} -> "
            f"{new.schedule.frequency}); copy the campaign instead",
            path="Schedule.Frequency",
            kind=KIND,
        )
    if (old.allocation_salt != new.allocation_salt) or old.name != new.name:
        raise DefinitionError(
            "the allocation salt of a launched campaign cannot change", path="Salt", kind=KIND
        )
    if old.is_ab_test or new.is_ab_test:
        same = old.treatments == new.treatments and old.holdout_percent == new.holdout_percent
        if not same:
            raise DefinitionError(
                "the treatments and holdout of a launched A/B test cannot change; "
                "copy the campaign to test something else",
                path="Treatments",
                kind=KIND,
            )


def set_state(project: Project, name: str, state: str, *, comment: str | None = None) -> Campaign:
    """Move a campaign to ``state`` (checked against the allowed transitions) and save it."""
    current = load_campaign(project, name)
    if state == current.state:
        return current
    new = current.model_copy(update={"state": state})
    check_edit(current, new)
    project.store.save_definition(
        KIND, name, new.model_dump(mode="json", by_alias=True), comment=comment or state
    )
    return new


def launch(project: Project, name: str) -> Campaign:
    """draft -> scheduled: from now on the frequency and A/B treatments are fixed."""
    return set_state(project, name, "scheduled")


def pause(project: Project, name: str) -> Campaign:
    return set_state(project, name, "paused")


def resume(project: Project, name: str) -> Campaign:
    """paused -> scheduled (the next due run plans again)."""
    return set_state(project, name, "scheduled")


def complete(project: Project, name: str) -> Campaign:
    return set_state(project, name, "completed")


def delete(project: Project, name: str) -> None:
    """Mark deleted (versions, plans and runs stay readable for analytics)."""
    current = load_campaign(project, name)
    if current.state != "deleted":
        project.store.save_definition(
            KIND,
            name,
            current.model_copy(update={"state": "deleted"}).model_dump(mode="json", by_alias=True),
            comment="deleted",
        )
    project.store.delete_definition(KIND, name)


def copy_campaign(project: Project, name: str, new_name: str) -> Campaign:
    """A draft copy under a new name (and so a new allocation salt)."""
    if new_name in project.store.names(KIND, include_deleted=True):
        raise DefinitionError(f"{new_name!r} already exists", path="Name", kind=KIND)
    source = load_campaign(project, name)
    copy = source.model_copy(update={"name": new_name, "state": "draft", "salt": None})
    copy = Campaign.parse(copy.model_dump(mode="json", by_alias=True))
    save_campaign(project, copy, comment=f"copy of {name}")
    return copy


def edit_campaign(project: Project, name: str, **changes: Any) -> Campaign:
    """Change fields (Python names) of the active version and save, under the edit rules."""
    current = load_campaign(project, name)
    new = current.with_changes(**changes)
    save_campaign(project, new, comment="edit")
    return new


# ---- plans and runs ----------------------------------------------------------------------------
def plans_dir(project: Project) -> Any:
    return project.store.root / "plans"


def save_plan(project: Project, plan: pd.DataFrame) -> Any:
    """Write a plan to ``store/plans/<run_id>.parquet`` (atomically); returns the path."""
    ids = plan["run_id"].astype("string").unique()
    if len(ids) != 1:
        raise DefinitionError(f"a plan holds exactly one run_id, found {len(ids)}", kind=KIND)
    run_id = str(ids[0])
    if "/" in run_id or run_id.startswith("."):
        raise DefinitionError(f"run_id {run_id!r} cannot be a file name", kind=KIND)
    plans_dir(project).mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(plan, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"engagekit.plan"] = json.dumps(plan.attrs.get("plan", {}), default=str).encode()
    table = table.replace_schema_metadata(meta)
    return project.store.write_table(f"plans/{run_id}.parquet", table)


def load_plan(project: Project, run_id: str) -> pd.DataFrame:
    table = project.store.read_table(f"plans/{run_id}.parquet")
    if table is None:
        known = sorted(p.stem for p in plans_dir(project).glob("*.parquet"))
        raise NotFoundError("plan", run_id, known=known[-10:])
    plan = table.to_pandas()
    raw = (table.schema.metadata or {}).get(b"engagekit.plan")
    if raw:
        plan.attrs["plan"] = json.loads(raw)
    return plan


def load_plans(project: Project, campaign: str) -> pd.DataFrame:
    """Every saved plan of a campaign, concatenated (oldest run first)."""
    frames = []
    for path in sorted(plans_dir(project).glob("*.parquet")):
        table = project.store.read_table(f"plans/{path.name}", columns=["campaign"])
        if table is None or campaign not in set(table.column("campaign").unique().to_pylist()):
            continue
        frames.append(load_plan(project, path.stem))
    if not frames:
        return _empty_plan()
    frames = [f for f in frames if (f["campaign"].astype("string") == campaign).all()]
    out = pd.concat([f.astype({c: "string" for c in _CATEGORICAL}) for f in frames],
                    ignore_index=True)  # fmt: skip
    return out.astype({c: "category" for c in _CATEGORICAL})


_CATEGORICAL = ("run_id", "campaign", "treatment_id", "channel_type", "template", "timezone",
                "status", "reason", "step")  # fmt: skip


def _empty_plan() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(
                dtype=TIMESTAMP_DTYPE
                if c == "due_at"
                else "bool"
                if c == "holdout"
                else "int64"
                if c in ("campaign_version", "template_version")
                else "string"
            )
            for c in PLAN_COLUMNS
        }
    )


def read_history(project: Project) -> pd.DataFrame:
    """The ledger as limit history: run_id, endpoint_id, campaign, status, created_at, and
    user_id when the ledger keeps it (delivery's migration adds it)."""
    conn = project.store.connect()
    have = {r[1] for r in conn.execute("PRAGMA table_info(ledger)")}
    columns = ["run_id", "endpoint_id", "campaign", "status", "created_at"]
    columns += [c for c in ("user_id",) if c in have]
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM ledger").fetchall()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    return frame.astype({c: "string" for c in columns if c != "created_at"})


def read_suppressed(project: Project) -> pd.Series:
    rows = project.store.connect().execute("SELECT address FROM suppression")
    return pd.Series([r[0] for r in rows], dtype="string", name="address")


def read_project_endpoints(project: Project) -> pd.DataFrame:
    """The project's endpoint snapshot (``engagekit.endpoints.read_endpoints`` when present)."""
    from engagekit.endpoints import read_endpoints

    return read_endpoints(project)


def record_run(
    project: Project,
    plan: pd.DataFrame,
    *,
    kind: str = "campaign",
    status: str = "planned",
    details: Mapping[str, Any] | None = None,
) -> str:
    """Insert (or refresh) the run's row in the ``runs`` table; returns the run id."""
    info = dict(plan.attrs.get("plan", {}))
    run_id = info.get("run_id") or str(plan["run_id"].iloc[0])
    body = json.dumps({**info, **(details or {})}, default=str)
    now = pd.Timestamp.now(tz="UTC").isoformat()
    with project.store.transaction() as conn:
        conn.execute(
            "INSERT INTO runs (run_id, campaign, campaign_version, kind, scheduled_for, status, "
            "started_at, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE "
            "SET campaign_version=excluded.campaign_version, details=excluded.details, "
            "status=CASE WHEN runs.status IN ('running','completed') THEN runs.status "
            "ELSE excluded.status END",
            (
                run_id,
                info.get("campaign"),
                info.get("campaign_version"),
                kind,
                info.get("occurrence"),
                status,
                now,
                body,
            ),
        )
    return run_id


def run_history(project: Project, name: str | None = None) -> pd.DataFrame:
    """The runs table (optionally one campaign's runs), newest first, details parsed."""
    sql = "SELECT * FROM runs"
    args: tuple[Any, ...] = ()
    if name is not None:
        sql += " WHERE campaign=?"
        args = (name,)
    rows = [
        dict(r)
        for r in project.store.connect().execute(
            sql + " ORDER BY scheduled_for DESC, started_at DESC", args
        )
    ]
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["details"] = frame["details"].map(lambda d: json.loads(d) if d else {})
    return frame


@dataclass
class DryRun:
    """A plan stopped before delivery: the plan, counts per reason, rendered previews."""

    plan: pd.DataFrame
    counts: pd.DataFrame
    previews: pd.DataFrame
    srm: Any = None

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        return (
            "<h4>counts</h4>"
            + self.counts.to_html()
            + "<h4>previews</h4>"
            + self.previews.to_html()
        )


def plan_run(
    project: Project,
    campaign_name: str,
    now: datetime | str | pd.Timestamp | None = None,
    *,
    dry_run: bool = False,
    occurrence: datetime | str | pd.Timestamp | None = None,
    events: pd.DataFrame | None = None,
    endpoints: pd.DataFrame | None = None,
    run_id: str | None = None,
    sample: int = 3,
    replan: bool = False,
) -> pd.DataFrame | DryRun:
    """Plan the run of a saved campaign due at ``now``; save the plan and record the run.

    Resolves the pinned segment and templates, reads endpoints, the ledger (limits) and the
    suppression list. A run that already has a saved plan gets that plan back (reruns and
    waves send from one plan; ``replan=True`` plans it again). ``dry_run=True`` saves nothing
    and returns a :class:`DryRun`.
    """
    now_ts = to_utc(now if now is not None else pd.Timestamp.now(tz="UTC"), "UTC")
    rec = project.store.get_definition(KIND, campaign_name)
    campaign = Campaign.parse(rec.body)
    if not dry_run and campaign.state in ("paused", "completed", "deleted", "draft"):
        raise DefinitionError(
            f"campaign {campaign.name!r} is {campaign.state}; "
            + (
                "launch it first"
                if campaign.state == "draft"
                else "resume it first"
                if campaign.state == "paused"
                else "copy it to run again"
            ),
            path="State",
            kind=KIND,
        )
    if not dry_run and not replan:
        rid = run_id or _expected_run_id(campaign, occurrence, now_ts)
        if rid is not None and (plans_dir(project) / f"{rid}.parquet").exists():
            return load_plan(project, rid)
    from engagekit import segments

    segment = segments.load_segment(project, campaign.segment, campaign.segment_version)
    frame = endpoints if endpoints is not None else read_project_endpoints(project)
    if campaign.schedule.event_triggered and events is None:
        events = new_events(project, campaign, now_ts)
    plan = plan_campaign(
        campaign,
        frame,
        now_ts,
        read_history(project),
        settings=project.settings,
        suppressed=read_suppressed(project),
        run_id=run_id,
        version=rec.version,
        occurrence=occurrence,
        events=events,
        segment=segment,
        project=project,
    )
    if dry_run:
        return dry_run_report(
            plan, campaign, frame, project=project, sample=sample, now=now_ts.to_pydatetime()
        )
    save_plan(project, plan)
    srm = allocation_check(plan, campaign) if len(plan) else None
    details = (
        {}
        if srm is None
        else {
            "srm": {
                "chi2": srm.chi2,
                "p_value": srm.p_value,
                "flagged": srm.flagged,
                "observed": srm.observed,
            }
        }
    )
    record_run(project, plan, details=details)  # fmt: skip
    return plan


def _expected_run_id(
    campaign: Campaign, occurrence: datetime | str | pd.Timestamp | None, now: pd.Timestamp
) -> str | None:
    """The run id :func:`plan_campaign` will give this run (None when there is no run)."""
    schedule = campaign.schedule
    if occurrence is not None:
        occ = to_utc(occurrence, schedule.tz)
    elif schedule.event_triggered:
        occ = now
    else:
        occ = occurrence_at(schedule, now)
    return None if occ is None else default_run_id(campaign, occ)


def new_events(project: Project, campaign: Campaign, now: pd.Timestamp) -> pd.DataFrame:
    """Events of the lake that may trigger an event campaign: since its last recorded run (or
    its StartTime, or a day back) up to ``now``, of the filtered event types."""
    since = None
    runs = run_history(project, campaign.name)
    if len(runs):
        stamps = [pd.Timestamp(d["now"]) for d in runs["details"] if d.get("now")]
        since = max(stamps) if stamps else None
    if since is None:
        since = campaign.schedule.start or now - pd.Timedelta(days=1)
    flt = campaign.schedule.event_filter
    wanted = None if flt is None else flt.dimensions.event_type
    types = list(wanted.values) if wanted and wanted.dimension_type == "INCLUSIVE" else None
    from engagekit.events import read_events

    return read_events(project, start=since, end=now + pd.Timedelta(microseconds=1),
                       event_types=types)  # fmt: skip


def dry_run_report(
    plan: pd.DataFrame,
    campaign: Campaign,
    endpoints: pd.DataFrame,
    *,
    project: Project | None = None,
    templates: Mapping[str, Any] | None = None,
    sample: int = 3,
    now: datetime | None = None,
) -> DryRun:
    """Counts per treatment and reason, and rendered previews of ``sample`` rows per treatment.

    Templates come from ``templates`` (treatment id -> template) or the project's store.
    """
    scheduled = plan[plan["status"] == "scheduled"]
    picks = scheduled.groupby("treatment_id", observed=True, sort=True).head(sample)
    previews = []
    for tid, rows in picks.groupby("treatment_id", observed=True, sort=True):
        template = treatment_template(campaign, str(tid), project, templates)
        if template is None:
            continue
        from engagekit.templates import render_batch

        ref = campaign.treatments[int(str(tid))].template_for(campaign.channel)
        rendered = render_batch(
            rows,
            template,
            endpoints,
            name=ref.name if ref else None,
            version=ref.version if ref else None,
            now=now,
        )
        previews.append(pd.concat([rows[["treatment_id", "endpoint_id", "address"]],
                                   rendered], axis=1))  # fmt: skip
    preview = pd.concat(previews) if previews else pd.DataFrame(
        columns=["treatment_id", "endpoint_id", "address"])  # fmt: skip
    return DryRun(
        plan=plan,
        counts=reason_counts(plan),
        previews=preview,
        srm=allocation_check(plan, campaign) if len(plan) else None,
    )


def treatment_template(
    campaign: Campaign,
    treatment_id: str,
    project: Project | None = None,
    templates: Mapping[str, Any] | None = None,
) -> Any:
    """The template a treatment sends: ``templates[treatment_id]``, the pinned template from the
    project, or a template built from the treatment's inline MessageConfiguration."""
    if templates is not None and treatment_id in templates:
        return templates[treatment_id]
    if treatment_id == HOLDOUT:
        return None
    treatment = campaign.treatments[int(treatment_id)]
    ref = treatment.template_for(campaign.channel)
    if ref is not None:
        if project is None:
            return None
        from engagekit.templates import load_template

        return load_template(project, ref.name, ref.version)
    return inline_template(campaign.channel, treatment.message_configuration)


def inline_template(channel: str, config: MessageConfiguration | None) -> Any:
    """A template model (engagekit.templates) for an inline Pinpoint message, or None."""
    if config is None:
        return None
    from engagekit import templates as tm

    if channel == "EMAIL" and config.email_message is not None:
        m = config.email_message
        return tm.EmailTemplate.model_validate(
            {"Subject": m.title, "HtmlPart": m.html_body, "TextPart": m.body}
        )
    if channel in ("SMS", "VOICE") and config.sms_message is not None:
        sms = config.sms_message
        return tm.SMSTemplate.model_validate(
            {"Body": sms.body or "", "MessageType": sms.message_type or "PROMOTIONAL"}
        )
    push = config.default_message or config.apns_message or config.gcm_message
    if channel == "PUSH" and push is not None:
        return tm.PushTemplate.model_validate(
            {"Title": push.title, "Body": push.body, "Action": push.action or "OPEN_APP",
             "Url": push.url}
        )  # fmt: skip
    return None


# ---- direct messages ---------------------------------------------------------------------------
def direct_run(
    project: Project,
    targets: Sequence[str],
    *,
    channel: Channel,
    template: str,
    template_version: int | None = None,
    now: datetime | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Plan a direct message in a project (pinned template, suppression), save the plan and
    record the run (kind ``direct``); delivery sends it like any plan."""
    from engagekit.templates import load_template

    slot = _TEMPLATE_SLOT[channel]
    alias = TemplateConfiguration.model_fields[slot].alias if slot else "Template"
    try:
        load_template(project, template, template_version)
        version = project.store.get_definition("template", template, template_version).version
    except NotFoundError as exc:
        raise DefinitionError(str(exc), path=f"{alias}.Name", kind="direct message") from None
    plan = plan_direct(
        read_project_endpoints(project),
        targets,
        channel=channel,
        template=template,
        template_version=version,
        now=now if now is not None else pd.Timestamp.now(tz="UTC"),
        settings=project.settings,
        suppressed=read_suppressed(project),
    )
    save_plan(project, plan)
    record_run(project, plan, kind="direct")
    return plan
