"""Suppression and consent: opt-out keywords, unsubscribe tokens, and never sending to the
opted out (property test over random plans and opt-out timing)."""

from __future__ import annotations

import email
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plans import plan_for as make_plan
from plans import render
from smtp_servers import RecordingHandler, start_server

from engagekit.channels.simulator import SimulatorChannel
from engagekit.consent import (
    OPT_OUT_KEYWORDS,
    ConsentError,
    handle_inbound_sms,
    handle_unsubscribe,
    is_opt_out_keyword,
    is_suppressed,
    opt_out,
    suppress,
    suppression_list,
    unsubscribe_token,
    unsuppress,
    verify_token,
)
from engagekit.delivery import deliver, ledger
from engagekit.endpoints import normalize_endpoints, read_endpoints, write_endpoints
from engagekit.project import Project


def plan_for(addresses: list[str], channel_type: str = "EMAIL", run_id: str = "r1") -> pd.DataFrame:
    return make_plan(
        addresses, channel_type=channel_type, run_id=run_id, campaign="c", template="t"
    )


def snapshot(project: Project, addresses: list[str], channel_type: str = "EMAIL") -> None:
    write_endpoints(
        project,
        normalize_endpoints(
            pd.DataFrame(
                {
                    "Id": [f"ep-{i}" for i in range(len(addresses))],
                    "ChannelType": channel_type,
                    "Address": addresses,
                    "OptOut": "NONE",
                    "User.UserId": [f"u-{i}" for i in range(len(addresses))],
                }
            )
        ),
    )


@pytest.mark.parametrize("keyword", sorted(OPT_OUT_KEYWORDS))
def test_every_opt_out_keyword_matches_in_any_case_with_spaces(keyword: str) -> None:
    assert is_opt_out_keyword(keyword)
    assert is_opt_out_keyword(f"  {keyword.lower()} \n")
    assert is_opt_out_keyword(keyword.title())


@pytest.mark.parametrize("text", ["STOP please", "stopp", "", "HELP", "yes"])
def test_other_texts_are_not_opt_outs(text: str) -> None:
    assert not is_opt_out_keyword(text)


def test_inbound_stop_opts_the_number_out_everywhere(project: Project) -> None:
    snapshot(project, ["+14155550101", "+14155550102"], "SMS")
    assert handle_inbound_sms(
        project, {"originationNumber": "+14155550101", "messageBody": " Stop "}
    )
    assert not handle_inbound_sms(
        project, {"originationNumber": "+14155550102", "messageBody": "thanks!"}
    )
    endpoints = read_endpoints(project).set_index("Id")
    assert endpoints.loc["ep-0", "OptOut"] == "ALL"
    assert endpoints.loc["ep-1", "OptOut"] == "NONE"
    assert suppression_list(project).set_index("address").loc["+14155550101", "reason"] == "OPT_OUT"

    from engagekit.events import read_events

    assert "_SMS.OPTOUT" in set(read_events(project)["event_type"])
    report = deliver(
        project, plan_for(["+14155550101", "+14155550102"], "SMS"), render=render,
        progress=False, channel="simulator",
    )  # fmt: skip
    assert (report.sent, report.skipped) == (1, 1)


def test_inbound_sms_without_sender_is_refused(project: Project) -> None:
    with pytest.raises(ConsentError, match="originationNumber"):
        handle_inbound_sms(project, {"messageBody": "STOP"})


def test_unsubscribe_tokens_round_trip_and_refuse_forgeries(project: Project) -> None:
    token = unsubscribe_token(project, "ep-7")
    assert verify_token(project, token) == "ep-7"
    forged = token.split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    with pytest.raises(ConsentError, match="signature does not match"):
        verify_token(project, forged)
    with pytest.raises(ConsentError, match="malformed"):
        verify_token(project, "nodot")


def test_one_click_unsubscribe_from_a_sent_message(project: Project) -> None:
    snapshot(project, ["ada@example.com", "bob@example.com"])
    with start_server(RecordingHandler()) as server:
        project.update_settings(
            channels={"mail": server.settings(unsubscribe_url="https://acme.test/u?t={token}")}
        )
        deliver(project, plan_for(["ada@example.com", "bob@example.com"]), render=render,
                progress=False)  # fmt: skip
        ada = next(m for m in server.handler.messages if m.rcpt_tos == ["ada@example.com"])
        header = email.message_from_bytes(ada.data)["List-Unsubscribe"]
        token = re.search(r"t=([^>]+)>", header).group(1)
        with pytest.raises(ConsentError, match="One-Click"):
            handle_unsubscribe(project, token, body="something else")
        assert handle_unsubscribe(project, token, body="List-Unsubscribe=One-Click") == [
            "ada@example.com"
        ]
        again = deliver(project, plan_for(["ada@example.com", "bob@example.com"], run_id="r2"),
                        render=render, progress=False)  # fmt: skip
    assert (again.sent, again.skipped) == (1, 1)
    assert read_endpoints(project).set_index("Id").loc["ep-0", "OptOut"] == "ALL"


def test_manual_suppression_can_be_lifted(project: Project) -> None:
    assert suppress(project, ["A@x.com", "b@x.com"], "MANUAL", "support") == 2
    assert is_suppressed(project, "a@X.com")
    assert unsuppress(project, "a@x.com")
    assert not is_suppressed(project, "a@x.com")
    with pytest.raises(ConsentError, match="reason must be one of"):
        suppress(project, "c@x.com", "BECAUSE")


def test_opt_out_needs_an_address_or_endpoint(project: Project) -> None:
    with pytest.raises(ConsentError, match="needs an address or an endpoint_id"):
        opt_out(project)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    n=st.integers(1, 40),
    batch=st.integers(1, 7),
    early=st.sets(st.integers(0, 39), max_size=10),
    late=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 39)), max_size=10),
)
def test_opted_out_addresses_are_never_sent_to(
    n: int, batch: int, early: set[int], late: list[tuple[int, int]]
) -> None:
    """Opt-outs before the run and between batches: no row claimed after an opt-out is sent."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.create(Path(tmp) / "p", name="prop")
        addresses = [f"user{i}@example.com" for i in range(n)]
        for i in early:
            if i < n:
                opt_out(project, address=addresses[i], source="early")
        batches_done = {"k": 0}

        def between_batches(_report: object) -> None:
            for k, i in late:
                if k == batches_done["k"] and i < n:
                    opt_out(project, address=addresses[i], source="late")
            batches_done["k"] += 1

        sim = SimulatorChannel("sim", {})
        deliver(project, plan_for(addresses), channel=sim, render=render, progress=False,
                batch_size=batch, on_batch=between_batches)  # fmt: skip
        rows = ledger(project).set_index("address")
        optouts = suppression_list(project).set_index("address")["created_at"]
        for address, opted_at in optouts.items():
            row = rows.loc[address]
            if row["claimed_at"] > opted_at:
                assert row["status"] == "skipped", address
                assert address not in sim.accepted.values()
        for i in early:
            if i < n:
                assert addresses[i] not in sim.accepted.values()
        assert len(sim.accepted) == int((rows["status"] == "sent").sum())


def test_cli_consent_and_ledger_commands(project: Project, capsys: pytest.CaptureFixture) -> None:
    from engagekit.cli import main

    path = str(project.path)
    assert main(["consent", "suppress", "-P", path, "x@example.com", "--reason", "MANUAL"]) == 0
    assert (
        main(["consent", "inbound-sms", "-P", path, "--from", "+14155550101", "--body", "stop"])
        == 0
    )
    assert main(["consent", "list", "-P", path]) == 0
    out = capsys.readouterr().out
    assert "x@example.com" in out and "+14155550101" in out and "opted out" in out
    from engagekit.templates import EmailTemplate, save_template

    assert save_template(project, "t", EmailTemplate(Subject="Hi", TextPart="Hello")) == 1
    addresses = ["a@example.com", "bounce@simulator.amazonses.com"]
    snapshot(project, addresses)
    plan_file = project.path / "plan.parquet"
    plan_for(addresses).to_parquet(plan_file)
    code = main(["deliver", "r1", "-P", path, "--plan", str(plan_file), "--quiet",
                 "--channel", "simulator"])  # fmt: skip
    assert code == 3  # one hard bounce
    assert main(["ledger", "-P", path, "--run", "r1"]) == 0
    out = capsys.readouterr().out
    assert "HARD_BOUNCE" in out and "sent" in out
    assert main(["channels", "-P", path]) == 0
    assert "registered channel types: push, ses, simulator, sms, smtp, webhook" in (
        capsys.readouterr().out
    )
