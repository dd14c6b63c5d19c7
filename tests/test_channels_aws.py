"""SES v2 and SNS channels through boto3 against a moto server on 127.0.0.1."""

from __future__ import annotations

import boto3
import pandas as pd
import pytest
from plans import plan_for, render

from engagekit.channels import Message
from engagekit.channels.ses import SESChannel, tag_value
from engagekit.delivery import deliver, ledger
from engagekit.project import Project


def plan_of(addresses: list[str], channel_type: str = "EMAIL") -> pd.DataFrame:
    return plan_for(addresses, run_id="r1", campaign="spring sale", treatment_id="1",
                    channel_type=channel_type)  # fmt: skip


def test_ses_v2_sends_with_configuration_set_and_tags(project: Project, aws_reset: str) -> None:
    sesv2 = boto3.client("sesv2", region_name="us-east-1")
    sesv2.create_email_identity(EmailIdentity="acme.test")
    sesv2.create_configuration_set(ConfigurationSetName="engagekit")
    project.update_settings(
        channels={
            "ses": {
                "type": "ses", "from_address": "Acme <news@acme.test>", "region": "us-east-1",
                "configuration_set": "engagekit", "sandbox": False, "connections": 2,
            }
        }
    )  # fmt: skip
    report = deliver(project, plan_of([f"user{i}@example.com" for i in range(4)]), render=render,
                     progress=False)  # fmt: skip
    assert report.sent == 4
    rows = ledger(project)
    assert rows["message_id"].notna().all() and rows["message_id"].is_unique
    quota = boto3.client("ses", region_name="us-east-1").get_send_quota()
    assert quota["SentLast24Hours"] == 4

    from engagekit.events import read_events

    types = set(read_events(project)["event_type"])
    assert "_email.send" in types and "_email.delivered" not in types


def test_ses_request_carries_tags_headers_and_configuration_set() -> None:
    ch = SESChannel(
        "ses",
        {"from_address": "news@acme.test", "configuration_set": "cs",
         "unsubscribe_url": "https://acme.test/u/{token}"},
    )  # fmt: skip
    msg = Message.example("ada@example.com")
    msg.campaign, msg.treatment_id, msg.unsubscribe = "spring sale", "1", {"token": "tok"}
    req = ch.request(msg)
    tags = {t["Name"]: t["Value"] for t in req["EmailTags"]}
    assert tags == {"campaign": "spring_sale", "treatment": "1", "endpoint": "e1", "run": "r1"}
    assert req["ConfigurationSetName"] == "cs"
    headers = {h["Name"]: h["Value"] for h in req["Content"]["Simple"]["Headers"]}
    assert headers["List-Unsubscribe"] == "<https://acme.test/u/tok>"
    assert headers["X-Engagekit-Key"] == msg.idempotency_key
    assert tag_value("a b/c") == "a_b_c"


def test_ses_unverified_sender_is_rejected_not_retried(project: Project, aws_reset: str) -> None:
    project.update_settings(
        channels={
            "ses": {
                "type": "ses",
                "from_address": "news@nowhere.test",
                "sandbox": False,
                "region": "us-east-1",
            }
        }
    )
    report = deliver(project, plan_of(["a@example.com"]), render=render, progress=False)
    row = ledger(project).iloc[0]
    assert (report.failed, report.retries) == (1, 0)
    assert row["outcome"] == "rejected" and row["attempts"] == 1


def test_ses_account_quota_comes_from_get_account(aws_reset: str) -> None:
    ch = SESChannel("ses", {"from_address": "news@acme.test", "account_quota": True,
                            "region": "us-east-1"})  # fmt: skip
    assert ch.max_24_hour_send > 0 and ch.max_send_rate > 0


def test_sns_publish_alternative(project: Project, aws_reset: str) -> None:
    project.update_settings(
        channels={
            "sms": {
                "type": "sms",
                "api": "sns",
                "region": "us-east-1",
                "sender_id": "ACME",
                "monthly_spend_limit": 0,
            }
        }
    )
    report = deliver(
        project, plan_of(["+14155550101", "+14155550102"], "SMS"), render=render, progress=False
    )
    assert report.sent == 2
    assert ledger(project)["message_id"].notna().all()


@pytest.mark.parametrize("bad", ["+1"])
def test_sns_invalid_number_fails_permanently(project: Project, aws_reset: str, bad: str) -> None:
    project.update_settings(
        channels={
            "sms": {"type": "sms", "api": "sns", "region": "us-east-1", "monthly_spend_limit": 0}
        }
    )
    report = deliver(project, plan_of([bad], "SMS"), render=render, progress=False)
    assert (report.failed, report.retries) == (1, 0)
