"""Delivery throughput: personalized emails (render + MIME + ledger + send + events) to postfix's
``smtp-sink`` on 127.0.0.1, next to two references measured in the same run:

* a bare smtplib loop sending pre-built raw bytes over the same number of connections
  (the practical ceiling), and
* an ``email.message.EmailMessage`` loop (build each message with the standard library).

Then a paced run: the configured MessagesPerSecond must be held within ±5%.

    python benchmarks/bench_delivery.py            # 100k messages
    python benchmarks/bench_delivery.py --quick    # 5k messages, < 30 s

Needs ``smtp-sink`` (Debian package postfix; ``make smtp-sink`` installs it).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pandas as pd

from engagekit.delivery import deliver, ledger
from engagekit.delivery._pacing import chunk_size
from engagekit.endpoints import normalize_endpoints, write_endpoints
from engagekit.project import Project
from engagekit.templates import EmailTemplate, save_template

FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Zoë"]


def find_sink() -> str:
    for candidate in (shutil.which("smtp-sink"), "/usr/sbin/smtp-sink"):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("smtp-sink not found: install postfix (make smtp-sink)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    port = free_port()
    cmd = [find_sink()]
    if os.geteuid() == 0:
        cmd += ["-u", "nobody"]
    cmd += [f"127.0.0.1:{port}", "1024"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                sys.exit("smtp-sink did not start")
            time.sleep(0.05)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_project(root: Path, n: int, port: int, connections: int) -> tuple[Project, pd.DataFrame]:
    project = Project.create(root / "bench", name="bench")
    project.update_settings(
        channels={
            "mail": {
                "type": "smtp", "host": "127.0.0.1", "port": port, "sandbox": False,
                "from_address": "Acme News <news@acme.test>", "connections": connections,
                "unsubscribe_url": "https://acme.test/u?t={token}",
            }
        }
    )  # fmt: skip
    ids = [f"ep-{i:07d}" for i in range(n)]
    endpoints = normalize_endpoints(
        pd.DataFrame(
            {
                "Id": ids,
                "ChannelType": "EMAIL",
                "Address": [f"user{i}@example.com" for i in range(n)],
                "User.UserId": [f"u-{i:07d}" for i in range(n)],
                "User.UserAttributes.FirstName": [FIRST_NAMES[i % 9] for i in range(n)],
                "Attributes.plan": [["pro"] if i % 3 else ["free"] for i in range(n)],
            }
        )
    )
    write_endpoints(project, endpoints)
    template = EmailTemplate(
        Subject="{{User.UserAttributes.FirstName}}, your spring picks",
        HtmlPart=(
            "<html><body><h1>Hello {{User.UserAttributes.FirstName}}!</h1>"
            "<p>Your plan: <b>{{Attributes.plan}}</b>. Here is what is new this week.</p>"
            "<p>Regards,<br>Acme</p></body></html>"
        ),
        TextPart="Hello {{User.UserAttributes.FirstName}}!\nYour plan: {{Attributes.plan}}.\n",
    )
    version = save_template(project, "spring", template)
    plan = pd.DataFrame(
        {
            "run_id": "bench-run", "campaign": "spring", "campaign_version": 1,
            "treatment_id": "0", "holdout": False, "endpoint_id": ids,
            "user_id": endpoints["User.UserId"], "channel_type": "EMAIL",
            "address": endpoints["Address"], "template": "spring", "template_version": version,
            "due_at": pd.Timestamp("2026-01-01", tz="UTC"), "timezone": "UTC",
            "status": "scheduled", "reason": pd.NA, "step": "send",
        }
    )  # fmt: skip
    return project, plan


# -- references -------------------------------------------------------------------------------
def _raw(i: int) -> bytes:
    return (
        f"From: Acme News <news@acme.test>\r\nTo: user{i}@example.com\r\n"
        f"Subject: Ada, your spring picks\r\nMessage-ID: <ref.{i}@acme.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello Ada!\r\nYour plan: pro.\r\n"
    ).encode()


def _bare_worker(args: tuple[int, range, int]) -> int:
    port, indexes, connections = args
    messages = [(f"user{i}@example.com", _raw(i)) for i in indexes]

    def run(chunk: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as conn:
            for rcpt, raw in chunk:
                conn.sendmail("news@acme.test", [rcpt], raw)

    threads = [
        threading.Thread(target=run, args=(messages[k::connections],)) for k in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(messages)


def _email_message_worker(args: tuple[int, range, int]) -> int:
    port, indexes, connections = args

    def run(chunk: list[int]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as conn:
            for i in chunk:
                msg = EmailMessage()
                msg["From"] = "Acme News <news@acme.test>"
                msg["To"] = f"user{i}@example.com"
                msg["Subject"] = f"{FIRST_NAMES[i % 9]}, your spring picks"
                msg["Message-ID"] = f"<em.{i}@acme.test>"
                msg.set_content(f"Hello {FIRST_NAMES[i % 9]}!\nYour plan: pro.\n")
                msg.add_alternative(f"<p>Hello {FIRST_NAMES[i % 9]}!</p>", subtype="html")
                conn.send_message(msg)

    items = list(indexes)
    threads = [
        threading.Thread(target=run, args=(items[k::connections],)) for k in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(items)


def reference(worker, port: int, n: int, processes: int, connections: int) -> float:
    ctx = multiprocessing.get_context("fork")
    shares = [(port, range(k, n, processes), connections) for k in range(processes)]
    started = time.perf_counter()
    with ctx.Pool(processes) as pool:
        sent = sum(pool.map(worker, shares))
    elapsed = time.perf_counter() - started
    assert sent == n
    return n / elapsed


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 30 s)")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="delivering processes")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections per process")
    parser.add_argument("--pace", type=float, default=200.0, help="MessagesPerSecond to hold")
    args = parser.parse_args(argv)
    n = args.messages or (5_000 if args.quick else 100_000)
    n_email_message = min(n, 1_000 if args.quick else 10_000)
    n_paced = int(args.pace * (2 if args.quick else 10))
    total_connections = args.workers * args.connections

    print(
        f"delivery benchmark: {n:,} personalized emails, {args.workers} processes x "
        f"{args.connections} connections, smtp-sink on 127.0.0.1, {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as tmp, smtp_sink() as port:
        started = time.perf_counter()
        project, plan = make_project(Path(tmp), n, port, args.connections)
        print(f"setup (endpoints, template, plan): {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        report = deliver(project, plan, workers=args.workers, progress=False)
        elapsed = time.perf_counter() - started
        assert report.sent == n, report
        rate = n / elapsed
        rows = ledger(project, "bench-run")
        assert rows["message_id"].is_unique and (rows["status"] == "sent").all()
        print(f"engagekit deliver (render+MIME+ledger+send+events): {elapsed:.2f} s, "
              f"{rate:,.0f} msg/s")  # fmt: skip

        bare = reference(_bare_worker, port, n, args.workers, args.connections)
        print(f"bare smtplib loop, pre-built bytes, {total_connections} connections: "
              f"{bare:,.0f} msg/s")  # fmt: skip
        em = reference(_email_message_worker, port, n_email_message, args.workers,
                       args.connections)  # fmt: skip
        print(f"EmailMessage loop ({n_email_message:,} messages): {em:,.0f} msg/s")
        print(f"ratio engagekit / bare smtplib: {rate / bare:.2f}; "
              f"engagekit / EmailMessage: {rate / em:.1f}x")  # fmt: skip

        paced_plan = plan.iloc[:n_paced].assign(run_id="paced-run")
        started = time.perf_counter()
        paced = deliver(project, paced_plan, progress=False, messages_per_second=args.pace)
        sent_at = pd.to_datetime(ledger(project, "paced-run")["sent_at"], format="ISO8601")
        span = (sent_at.max() - sent_at.min()).total_seconds()
        # messages go out in reservations of `chunk` sharing one timestamp: the span covers
        # all but the last reservation
        chunk = chunk_size(args.pace, 2000)
        achieved = (paced.sent - chunk) / span
        deviation = achieved / args.pace - 1
        print(f"paced run: {paced.sent:,} messages at {args.pace:.0f}/s configured -> "
              f"{achieved:.1f}/s achieved ({deviation:+.1%}), "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        print(f"peak RSS: {peak_rss_mb():.0f} MB")
        ok = rate >= 2_500 and abs(deviation) <= 0.05
        print("targets (>= 2,500 msg/s, pace within ±5%):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
