"""Campaigns: standard and A/B campaigns with a holdout, planned as a DataFrame.

A :class:`Campaign` is a declaration (pydantic, frozen, Pinpoint field names as aliases):
segment (pinned version), channel, 1–5 treatments, ``HoldoutPercent``, :class:`Schedule`,
:class:`Limits`, priority and state. :func:`plan_campaign` turns it into a plan — one row per
audience endpoint, with its arm, due time and status — as a pure function of its inputs.
:func:`plan_run` is the project shell around it (load, plan, save, record the run).

Plan columns (see the contract in the README): ``run_id``, ``campaign``, ``campaign_version``,
``treatment_id`` (``"0"`` … ``"4"``, or ``"holdout"``), ``holdout``, ``endpoint_id``,
``user_id``, ``channel_type``, ``address``, ``template``, ``template_version``, ``due_at``
(UTC), ``timezone``, ``status`` (``scheduled`` | ``excluded``), ``reason`` (NA when scheduled),
``step``. Low-cardinality text columns are categoricals of strings.

Exclusion reasons, first match wins (:data:`REASONS`):

=====================  ============================================================
OPTED_OUT              ``OptOut`` is ``ALL``
INACTIVE               ``EndpointStatus`` is ``INACTIVE``
NO_ADDRESS             no address (empty or blank) for the channel
SUPPRESSED             the address (trimmed, lower-cased) is on the suppression list
OUTSIDE_SCHEDULE       the local-time wave falls after the schedule's ``EndTime``
LOCAL_TIME_PASSED      the local-time wave was already over when the run was planned
QUIET_TIME             due inside quiet time (``QuietTimeMode`` SKIP, Pinpoint's rule), or
                       deferred (DEFER) longer than ``Limits.MaximumDuration``
TOTAL_LIMIT            ``Limits.Total`` messages of this campaign already targeted it
DAILY_LIMIT            ``Limits.Daily`` messages of this campaign in the last 24 h
USER_CAMPAIGN_LIMIT    the project's ``max_per_user_per_campaign`` for the user
USER_DAILY_LIMIT       the project's ``max_per_user_per_day`` for the user (all campaigns)
HOLDOUT                in the control group (and otherwise eligible)
=====================  ============================================================

Limits count every ledger row that was targeted — pending, sent *or failed* (Pinpoint's
rule) — except rows of the run being planned, so a rerun gives the same plan. Holdout rows
that would have been eligible carry HOLDOUT; ineligible ones carry their own reason (still
``holdout=True``), so the control group compares with the treated group like for like.
Endpoints of other channels than the campaign's are not part of its audience.

>>> import pandas as pd
>>> from engagekit.campaigns import Campaign, plan_campaign
>>> from engagekit.sample import generate_endpoints
>>> c = Campaign.parse({"Name": "welcome", "SegmentId": "all", "Channel": "EMAIL",
...     "HoldoutPercent": 10, "Treatments": [{"TemplateConfiguration":
...     {"EmailTemplate": {"Name": "welcome", "Version": 1}}}]})
>>> plan = plan_campaign(c, generate_endpoints(100), "2026-11-02T09:00:00Z", audience="all")
>>> sorted(plan["status"].unique())
['excluded', 'scheduled']
"""

from __future__ import annotations

from engagekit.campaigns._model import (
    HOLDOUT,
    KIND,
    MAX_TREATMENTS,
    Campaign,
    CampaignEmailMessage,
    CampaignSmsMessage,
    Channel,
    CustomMessage,
    Limits,
    Message,
    MessageConfiguration,
    States,
    TemplateConfiguration,
    TemplateRef,
    Treatment,
    definition_error,
    validate_request,
)
from engagekit.campaigns._plan import (
    COUNTED_STATUSES,
    LOCAL_TIME_GRACE,
    MAX_DIRECT,
    PLAN_COLUMNS,
    REASONS,
    STATUSES,
    AudienceLike,
    PlanInputs,
    allocation_check,
    default_run_id,
    plan_campaign,
    plan_counts,
    plan_direct,
    reason_counts,
)
from engagekit.campaigns._store import (
    DryRun,
    campaign_version,
    check_edit,
    complete,
    copy_campaign,
    delete,
    direct_run,
    dry_run_report,
    edit_campaign,
    inline_template,
    launch,
    list_campaigns,
    load_campaign,
    load_plan,
    load_plans,
    new_events,
    pause,
    pin_versions,
    plan_run,
    plans_dir,
    read_history,
    read_project_endpoints,
    read_suppressed,
    record_run,
    resume,
    run_history,
    save_campaign,
    save_plan,
    set_state,
    treatment_template,
)
from engagekit.project import QuietTime
from engagekit.schedules import EventFilter, Schedule

__all__ = [
    "COUNTED_STATUSES",
    "HOLDOUT",
    "KIND",
    "LOCAL_TIME_GRACE",
    "MAX_DIRECT",
    "MAX_TREATMENTS",
    "PLAN_COLUMNS",
    "REASONS",
    "STATUSES",
    "AudienceLike",
    "Campaign",
    "CampaignEmailMessage",
    "CampaignSmsMessage",
    "Channel",
    "CustomMessage",
    "DryRun",
    "EventFilter",
    "Limits",
    "Message",
    "MessageConfiguration",
    "PlanInputs",
    "QuietTime",
    "Schedule",
    "States",
    "TemplateConfiguration",
    "TemplateRef",
    "Treatment",
    "allocation_check",
    "campaign_version",
    "check_edit",
    "complete",
    "copy_campaign",
    "default_run_id",
    "definition_error",
    "delete",
    "direct_run",
    "dry_run_report",
    "edit_campaign",
    "inline_template",
    "launch",
    "list_campaigns",
    "load_campaign",
    "load_plan",
    "load_plans",
    "new_events",
    "pause",
    "pin_versions",
    "plan_campaign",
    "plan_counts",
    "plan_direct",
    "plan_run",
    "plans_dir",
    "read_history",
    "read_project_endpoints",
    "read_suppressed",
    "reason_counts",
    "record_run",
    "resume",
    "run_history",
    "save_campaign",
    "save_plan",
    "set_state",
    "treatment_template",
    "validate_request",
]
