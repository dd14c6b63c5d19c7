"""deliver(): ledger, outcomes, retries, consent, quotas and events, against real SMTP servers."""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from plans import plan_for, render
from smtp_servers import RecordingHandler, ScriptedHandler, Server, self_signed_cert, start_server

from engagekit import channels
from engagekit.consent import opt_out, suppress, suppression_list
from engagekit.delivery import deliver, ledger
from engagekit.errors import ChannelError, DeliveryError
from engagekit.project import Project


def make_plan(addresses: list[str], *, run_id: str = "run-1", **extra: object) -> pd.DataFrame:
    alternating = ["0" if i % 2 == 0 else "1" for i in range(len(addresses))]
    return plan_for(addresses, run_id=run_id, treatment_id=alternating, **extra)


def use_channel(project: Project, name: str, settings: dict) -> None:
    project.update_settings(channels={name: settings})


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    with start_server(RecordingHandler()) as server:
        yield server


def test_simulator_outcomes_write_ledger_events_and_suppression(project: Project) -> None:
    plan = make_plan(
        ["ada@example.com", "bounce@simulator.amazonses.com", "complaint@example.com",
         "ooto@simulator.amazonses.com", "reject@example.com", "throttle@example.com"]
    )  # fmt: skip
    report = deliver(project, plan, render=render, progress=False, retry_base=0.001)
    assert (report.sent, report.failed, report.retries) == (4, 2, 1)
    rows = ledger(project, "run-1").set_index("address")
    assert rows.loc["bounce@simulator.amazonses.com", "outcome"] == "hardbounce"
    assert rows.loc["reject@example.com", "error_code"] == "REJECTED"
    assert rows.loc["throttle@example.com", "status"] == "sent"
    assert set(suppression_list(project)["reason"]) == {"BOUNCE", "COMPLAINT"}

    from engagekit.events import read_events

    counts = Counter(read_events(project)["event_type"])
    assert counts["_campaign.send"] == 6
    assert counts["_email.send"] == 5
    assert counts["_email.delivered"] == 4
    assert counts["_email.hardbounce"] == 1
    assert counts["_email.complaint"] == 1
    assert counts["_email.rejected"] == 1


def test_second_deliver_of_same_plan_sends_nothing(project: Project) -> None:
    plan = make_plan([f"user{i}@example.com" for i in range(30)])
    first = deliver(project, plan, render=render, progress=False, batch_size=7)
    again = deliver(project, plan, render=render, progress=False)
    assert first.sent == 30
    assert (again.sent, again.already_done) == (0, 30)


def test_smtp_sends_each_planned_message_once_with_headers(
    project: Project, smtp_server: Server
) -> None:
    use_channel(
        project,
        "mail",
        smtp_server.settings(
            connections=3,
            unsubscribe_url="https://acme.test/u?t={token}",
            unsubscribe_mailto="unsubscribe@acme.test",
        ),
    )
    plan = make_plan([f"user{i}@example.com" for i in range(25)])
    report = deliver(project, plan, render=render, progress=False, batch_size=10)
    assert report.sent == 25
    got = smtp_server.handler.messages
    assert sorted(m.rcpt_tos[0] for m in got) == sorted(plan["address"])
    ids = [m.message_id for m in got]
    assert len(set(ids)) == 25
    assert "<run-1.ep-0.send@acme.test>" in ids
    msg = email.message_from_bytes(got[0].data)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.get_payload()] == ["text/plain", "text/html"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://acme.test/u?t=" in msg["List-Unsubscribe"]
    assert "mailto:unsubscribe@acme.test" in msg["List-Unsubscribe"]
    rows = ledger(project, "run-1")
    assert set(rows["message_id"]) == set(ids)


def test_non_ascii_subject_and_body_round_trip(project: Project, smtp_server: Server) -> None:
    use_channel(project, "mail", smtp_server.settings())

    def fancy(batch: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "Subject": "Grüße, Zoë ✓",
                "TextPart": "Hallo Jürgen\n.dot line",
                "HtmlPart": "<b>é</b>",
            },
            index=batch.index,
        )

    deliver(project, make_plan(["zoe@example.com"]), render=fancy, progress=False)
    msg = email.message_from_bytes(
        smtp_server.handler.messages[0].data, policy=email.policy.default
    )
    assert str(msg["Subject"]) == "Grüße, Zoë ✓"
    text = msg.get_body(("plain",)).get_content()
    assert "Hallo Jürgen" in text and ".dot line" in text


def test_holdout_and_excluded_rows_are_never_sent(project: Project) -> None:
    plan = make_plan([f"user{i}@example.com" for i in range(6)])
    plan.loc[0, "holdout"] = True
    plan.loc[0, "treatment_id"] = "holdout"
    plan.loc[1, "status"] = "excluded"
    plan.loc[1, "reason"] = "QUIET_TIME"
    report = deliver(project, plan, render=render, progress=False)
    assert report.planned == 4 and report.sent == 4
    assert set(ledger(project)["endpoint_id"]) == {"ep-2", "ep-3", "ep-4", "ep-5"}


def test_rows_not_yet_due_wait_for_a_later_call(project: Project) -> None:
    plan = make_plan(["a@example.com", "b@example.com"])
    plan.loc[1, "due_at"] = pd.Timestamp("2030-01-01", tz="UTC")
    now = pd.Timestamp("2026-06-01", tz="UTC").to_pydatetime()
    first = deliver(project, plan, render=render, progress=False, now=now)
    assert (first.sent, first.deferred) == (1, 1)
    later = deliver(project, plan, render=render, progress=False, now=pd.Timestamp(
        "2030-01-02", tz="UTC").to_pydatetime())  # fmt: skip
    assert (later.sent, later.deferred) == (1, 0)


@pytest.mark.parametrize("pipelining", [False, True])
def test_transient_smtp_replies_retry_and_permanent_ones_do_not(
    project: Project, pipelining: bool
) -> None:
    handler = ScriptedHandler(pipelining=pipelining)
    with start_server(handler) as server:
        use_channel(project, "mail", server.settings())
        plan = make_plan(
            ["ok@example.com", "greylist451@example.com", "nouser550@example.com",
             "tempfail421@example.com"]
        )  # fmt: skip
        report = deliver(
            project, plan, render=render, progress=False, retry_base=0.001, max_attempts=3
        )
    rows = ledger(project).set_index("address")
    assert rows.loc["greylist451@example.com", "status"] == "sent"
    assert rows.loc["nouser550@example.com", "status"] == "failed"
    assert rows.loc["nouser550@example.com", "outcome"] == "hardbounce"
    assert rows.loc["nouser550@example.com", "attempts"] == 1
    assert rows.loc["tempfail421@example.com", "error_code"] == "SMTP_421"
    assert "gave up after 3 attempts" in rows.loc["tempfail421@example.com", "error"]
    assert report.sent == 2 and report.failed == 2
    assert suppression_list(project).set_index("address").loc[
        "nouser550@example.com", "reason"] == "BOUNCE"  # fmt: skip
    assert sorted(m.rcpt_tos[0] for m in handler.messages) == [
        "greylist451@example.com", "ok@example.com"]  # fmt: skip


@pytest.mark.parametrize("pipelining", [False, True])
def test_flaky_server_dropping_connections_still_gets_each_message_once(
    project: Project, pipelining: bool
) -> None:
    handler = RecordingHandler(drop_rate=0.1, checkpoint=True, seed=7, pipelining=pipelining)
    with start_server(handler) as server:
        use_channel(project, "mail", server.settings(connections=2))
        plan = make_plan([f"user{i}@example.com" for i in range(120)])
        report = deliver(
            project, plan, render=render, progress=False, retry_base=0.001, max_attempts=8
        )
    assert handler.dropped > 0
    assert report.sent == 120
    ids = handler.message_ids()
    assert len(ids) == len(set(ids)) == 120


def test_pipelining_server_gets_the_same_messages(project: Project) -> None:
    handler = RecordingHandler(pipelining=True)
    addresses = [f"user{i}@example.com" for i in range(20)]
    addresses[5] = "bad<address@example.com"  # refused before the envelope is written
    with start_server(handler) as server:
        use_channel(project, "mail", server.settings(connections=2))
        report = deliver(project, make_plan(addresses), render=render, progress=False)
    assert (report.sent, report.failed) == (19, 1)
    assert sorted(m.rcpt_tos[0] for m in handler.messages) == sorted(
        a for a in addresses if "<" not in a
    )
    assert len(set(handler.message_ids())) == 19


def test_starttls_with_auth_from_environment(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = self_signed_cert(tmp_path)
    with start_server(RecordingHandler(), tls_cert=cert, auth=True) as server:
        use_channel(project, "mail", server.settings(security="starttls", ca_file=str(cert[0])))
        monkeypatch.setenv("ENGAGEKIT_SMTP_USERNAME", "ada")
        monkeypatch.setenv("ENGAGEKIT_SMTP_PASSWORD", "s3cret")
        report = deliver(project, make_plan(["a@example.com"]), render=render, progress=False)
        assert report.sent == 1 and len(server.handler.messages) == 1

        monkeypatch.setenv("ENGAGEKIT_SMTP_PASSWORD", "wrong")
        with pytest.raises(ChannelError, match="authentication failed"):
            deliver(project, make_plan(["b@example.com"], run_id="run-2"), render=render,
                    progress=False)  # fmt: skip


def test_sandbox_sends_only_to_verified_identities(project: Project, smtp_server: Server) -> None:
    settings = smtp_server.settings(verified_identities=["ada@example.com", "acme.test"])
    settings.pop("sandbox")
    use_channel(project, "mail", settings)
    plan = make_plan(["ada@example.com", "bob@acme.test", "eve@example.com"])
    report = deliver(project, plan, render=render, progress=False)
    assert (report.sent, report.failed) == (2, 1)
    rows = ledger(project).set_index("address")
    assert rows.loc["eve@example.com", "error_code"] == "SANDBOX_UNVERIFIED"
    assert sorted(m.rcpt_tos[0] for m in smtp_server.handler.messages) == [
        "ada@example.com", "bob@acme.test"]  # fmt: skip


def test_rolling_24_hour_quota_defers_the_rest(project: Project) -> None:
    use_channel(project, "sim", {"type": "simulator", "max_24_hour_send": 5})
    plan = make_plan([f"user{i}@example.com" for i in range(8)])
    report = deliver(project, plan, render=render, progress=False, batch_size=3)
    assert (report.sent, report.deferred) == (5, 3)
    assert report.deferred_reasons["QUOTA_24H"] == 3
    assert report.next_capacity_at is not None
    other = deliver(project, make_plan(["x@example.com"], run_id="run-2"), render=render,
                    progress=False)  # fmt: skip
    assert (other.sent, other.deferred) == (0, 1)


def test_suppressed_and_opted_out_addresses_are_skipped(project: Project) -> None:
    suppress(project, "Bounced@Example.com", "BOUNCE", "import")
    plan = make_plan(["bounced@example.com", "left@example.com", "stay@example.com"])
    # the opt-out arrives after planning, through the ledger's knowledge of the endpoint
    opt_out(project, address="left@example.com", source="test")
    report = deliver(project, plan, render=render, progress=False)
    assert (report.sent, report.skipped) == (1, 2)
    rows = ledger(project).set_index("address")
    assert rows.loc["left@example.com", "status"] == "skipped"
    assert rows.loc["bounced@example.com", "error_code"] == "SUPPRESSED"


def test_rendering_failure_is_recorded_and_not_sent(project: Project) -> None:
    def half_broken(batch: pd.DataFrame) -> pd.DataFrame:
        out = render(batch)
        out["render_error"] = ["missing attribute FirstName" if i == 0 else pd.NA
                               for i in range(len(batch))]  # fmt: skip
        return out

    report = deliver(project, make_plan(["a@example.com", "b@example.com"]),
                     render=half_broken, progress=False)  # fmt: skip
    assert (report.sent, report.failed) == (1, 1)
    from engagekit.events import read_events

    assert "_email.rendering_failure" in set(read_events(project)["event_type"])


def test_unknown_channel_error_lists_registered_ones(project: Project) -> None:
    with pytest.raises(ChannelError, match=r"registered: .*simulator.*smtp"):
        channels.get("carrier-pigeon")
    with pytest.raises(ChannelError, match="no channel 'pigeon'"):
        deliver(project, make_plan(["a@example.com"]), channel="pigeon", render=render,
                progress=False)  # fmt: skip


def test_plan_without_required_columns_is_refused(project: Project) -> None:
    with pytest.raises(DeliveryError, match="lacks the columns"):
        deliver(project, pd.DataFrame({"run_id": ["r"]}), render=render, progress=False)


def test_registry_takes_channel_classes_and_names_them_in_errors() -> None:
    class Loopback(channels.Channel):
        kind = "custom"

        def send_batch(self, messages):
            return [channels.SendResult("sent", message_id=m.idempotency_key) for m in messages]

    reg = channels.ChannelRegistry()
    reg._entry_points_loaded = True  # only what this test registers
    reg.register("loopback", Loopback)
    assert reg.get("loopback") is Loopback
    with pytest.raises(ChannelError, match="registered: loopback"):
        reg.get("nope")
    with pytest.raises(ChannelError, match="not a subclass"):
        reg.register("bad", dict)  # type: ignore[arg-type]


def test_a_channel_instance_can_be_passed_directly(project: Project) -> None:
    sim = channels.get("simulator")("mine", {})
    report = deliver(project, make_plan(["a@example.com"]), channel=sim, render=render,
                     progress=False)  # fmt: skip
    assert report.channels == ["mine"] and list(sim.accepted.values()) == ["a@example.com"]


def test_a_store_that_skipped_migration_0006_gets_it_when_opened(project: Project) -> None:
    conn = project.store.connect()
    conn.executescript(
        "DROP TABLE ledger; DROP TABLE rate_limits; DELETE FROM schema_migrations WHERE version=6;"
        "CREATE TABLE ledger (run_id TEXT NOT NULL, endpoint_id TEXT NOT NULL, step TEXT NOT NULL"
        " DEFAULT 'send', campaign TEXT, treatment TEXT, channel TEXT, address TEXT, status TEXT"
        " NOT NULL, message_id TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, created_at"
        " TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (run_id, endpoint_id, step));"
        "CREATE INDEX ledger_by_address ON ledger (address, created_at);"
    )
    project = Project.open(project.path)
    report = deliver(project, make_plan(["a@example.com"]), render=render, progress=False)
    assert report.sent == 1
    versions = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    assert 6 in versions
