"""Zoho's webhooks through `zoho-sync webhooks serve` (a subprocess: the receiver, the queue standing in for
SQS, the worker) with the emulator posting Zoho-shaped webhooks as its data changes, against embedded Postgres."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from books_sync.db import Database
from books_sync.settings import get_settings
from books_sync.storage import webhooks
from books_sync.storage.webhooks import LONGEST_WAIT, QUIET
from books_sync.sync.time_budget import TimeBudget
from books_sync.webhooks.secret import HEADER
from books_sync.webhooks.worker import work
from tests.support import MakeOrg, Org, eventually, work_listed

CLI = str(Path(sys.executable).with_name("zoho-sync"))


def zs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})}
    )


def start_serving(port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """`zoho-sync webhooks serve` (a free port unless given), and its address."""
    process = subprocess.Popen(
        [CLI, "webhooks", "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("webhooks: http://"), first + (process.stderr.read() if process.stderr else "")
    return process, first.split()[1]


@pytest.fixture
def serve(db: Database, zoho: Any) -> Iterator[str]:
    process, address = start_serving()
    try:
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


def hooked(org: Org, base_url: str, rules: tuple[str, ...] = ("invoice", "contact")) -> dict[str, Any]:
    """`tenant webhook --json`, pasted into the emulator's organization as a user pastes it into Zoho (a workflow
    rule with a webhook on each module of `rules`)."""
    made = zs("tenant", "webhook", "--user-id", org.user_id, "--json", env={"WEBHOOK_BASE_URL": base_url})
    assert made.returncode == 0, made.stderr
    form = json.loads(made.stdout)
    urls = {kind: url for kind, url in form["urls"].items() if kind in rules}
    org.control.configure_org(org.organization_id, webhook={"urls": urls, "headers": form["headers"]})
    return dict(form)


def pending_of(db: Database, org: Org, invoice_id: str) -> int:
    sql = (
        "SELECT count(*) FROM reminders r JOIN invoices_cache i ON i.id = r.invoice_id "
        "WHERE r.user_id = :u AND i.zoho_invoice_id = :i AND r.status = 'pending'"
    )
    return int(db.scalar(sql, u=org.user_id, i=invoice_id))


def synced_with_reminders(db: Database, make_org: MakeOrg, profile: str = "observed") -> tuple[Org, str]:
    org = make_org(customers=20, invoices=60, open_share=0.9, profile=profile)
    assert zs("run", "--user-id", org.user_id).returncode == 0
    invoice = db.scalar(
        "SELECT i.zoho_invoice_id FROM reminders r JOIN invoices_cache i ON i.id = r.invoice_id "
        "WHERE r.user_id = :u AND r.status = 'pending' ORDER BY i.zoho_invoice_id LIMIT 1",
        u=org.user_id,
    )
    assert invoice, "the organization has an invoice with pending reminders"
    return org, str(invoice)


def test_a_payment_cancels_its_reminders_within_5_seconds_for_at_most_2_calls(
    db: Database, make_org: MakeOrg, serve: str
) -> None:
    org, invoice = synced_with_reminders(db, make_org)
    hooked(org, serve)
    before = org.control.books_calls(org.organization_id)
    org.control.pay_invoice(org.organization_id, invoice)
    took = eventually(lambda: pending_of(db, org, invoice) == 0)
    assert took < 5
    time.sleep(0.3)  # anything still in flight
    calls = org.control.books_calls(org.organization_id) - before
    print(f"payment: reminders cancelled {took:.2f} s after the payment, {calls} Zoho calls")
    assert calls <= 2
    assert db.scalar("SELECT status FROM invoices_cache WHERE user_id = :u AND zoho_invoice_id = :i",
                     u=org.user_id, i=invoice) == "paid"  # fmt: skip
    (status,) = json.loads(zs("status", "--user-id", org.user_id, "--json").stdout)
    assert status["last_webhook_at"] and (status["webhook_records_waiting"], status["webhook_records_dead"]) == (0, 0)
    db.run("UPDATE webhook_inbox SET dead_at = now(), last_error = 'ZohoUnavailable' WHERE user_id = :u", u=org.user_id)
    assert "1 record(s) named by webhooks could not be read" in zs("status", "--user-id", org.user_id).stderr


def test_a_payment_webhook_reads_the_payment_then_its_invoice(db: Database, make_org: MakeOrg, serve: str) -> None:
    """A rule on Customer Payments: two Zoho calls, the payment and the invoice it was applied to, each as Zoho's
    reference documents it (the documented profile refuses anything else)."""
    org, invoice = synced_with_reminders(db, make_org, profile="documented")
    hooked(org, serve, rules=("payment",))
    before = org.control.books_calls(org.organization_id)
    org.control.pay_invoice(org.organization_id, invoice)
    assert eventually(lambda: pending_of(db, org, invoice) == 0) < 5
    time.sleep(0.3)
    assert org.control.books_calls(org.organization_id) - before == 2
    assert [s["kind"] for s in org.control.webhooks_sent()[-1:]] == ["payment"]
    assert org.control.off_reference(org.organization_id) == []


def test_void_delete_phone_change_and_opt_out_arrive_by_webhook(db: Database, make_org: MakeOrg, serve: str) -> None:
    org, invoice = synced_with_reminders(db, make_org)
    hooked(org, serve)
    org.control.void_invoice(org.organization_id, invoice)
    eventually(lambda: pending_of(db, org, invoice) == 0)
    others = [str(r[0]) for r in db.run(
        "SELECT DISTINCT i.zoho_invoice_id FROM reminders r JOIN invoices_cache i ON i.id = r.invoice_id "
        "WHERE r.user_id = :u AND r.status = 'pending' ORDER BY 1", u=org.user_id)]  # fmt: skip
    deleted, moved = others[0], others[1]
    org.control.delete_invoice(org.organization_id, deleted)
    eventually(lambda: pending_of(db, org, deleted) == 0)
    customer = db.scalar(
        "SELECT c.zoho_customer_id FROM invoices_cache i JOIN customers_cache c ON c.id = i.customer_id "
        "WHERE i.user_id = :u AND i.zoho_invoice_id = :i",
        u=org.user_id,
        i=moved,
    )
    org.control.update_contact(org.organization_id, customer, mobile="+44 7911 123456", phone="")
    phone = "SELECT primary_phone FROM customers_cache WHERE user_id = :u AND zoho_customer_id = :c"
    eventually(lambda: db.scalar(phone, u=org.user_id, c=customer) == "+447911123456")
    org.control.update_contact(org.organization_id, customer, payment_reminder_enabled=False)
    eventually(lambda: pending_of(db, org, moved) == 0)


def test_a_forged_or_malformed_request_changes_nothing(db: Database, make_org: MakeOrg, serve: str) -> None:
    org, invoice = synced_with_reminders(db, make_org)
    form = hooked(org, serve)
    url = form["urls"]["invoice"].replace("${invoice.invoice_id}", invoice)
    secret = form["headers"][HEADER]

    def post(to: str, body: bytes = b"", given: str | None = secret) -> int:
        return requests.post(to, data=body, headers={HEADER: given} if given else {}, timeout=10).status_code

    answers = {
        "wrong secret": post(url, given=secret[:-1] + ("x" if secret[-1] != "x" else "y")),
        "no secret": post(url, given=None),
        "unknown tenant": post(url.replace(org.user_id, "ghost")),
        "malformed": post(url.split("?")[0], b"{not json"),
        "bad id": post(url.replace(invoice, "1;DROP")),
        "oversized": post(url, b"x" * 70_000),
    }
    assert answers == {"wrong secret": 401, "no secret": 401, "unknown tenant": 401, "malformed": 400,
                       "bad id": 400, "oversized": 413}  # fmt: skip
    assert db.scalar("SELECT count(*) FROM webhook_inbox WHERE user_id = :u", u=org.user_id) == 0  # nothing queued
    assert pending_of(db, org, invoice) > 0
    assert secret not in json.dumps(db.rows("SELECT * FROM webhook_secrets"), default=str)  # only its hash is kept
    rotated = zs("tenant", "webhook", "--user-id", org.user_id, "--rotate", "--json", env={"WEBHOOK_BASE_URL": serve})
    fresh = json.loads(rotated.stdout)["headers"][HEADER]
    assert fresh != secret and (post(url, given=fresh), post(url, given=secret)) == (202, 202)  # the old for a while
    shown = zs("tenant", "webhook", "--user-id", org.user_id, "--json", env={"WEBHOOK_BASE_URL": serve}).stdout
    assert fresh not in shown and "shown only when made" in shown
    db.run("UPDATE webhook_secrets SET previous_valid_until = now() WHERE user_id = :u", u=org.user_id)
    assert (post(url, given=fresh), post(url, given=secret)) == (202, 401)


def test_a_replay_is_a_harmless_re_read_and_a_burst_is_coalesced(db: Database, make_org: MakeOrg, serve: str) -> None:
    """1,000 webhooks for 50 records cost at most a read per record per worker turn, not 1,000 reads."""
    org, _ = synced_with_reminders(db, make_org)
    form = hooked(org, serve)
    ids = [str(r[0]) for r in db.run("SELECT zoho_invoice_id FROM invoices_cache WHERE user_id = :u "
                                      "ORDER BY zoho_invoice_id LIMIT 50", u=org.user_id)]  # fmt: skip
    session = requests.Session()
    before, started = org.control.books_calls(org.organization_id), time.monotonic()
    last_named: dict[str, float] = {}
    bursts = 50  # each record's first burst; a gap of QUIET between two webhooks for it starts another
    for n in range(1000):
        url = form["urls"]["invoice"].replace("${invoice.invoice_id}", ids[n % 50])
        assert session.post(url, headers=form["headers"], timeout=10).status_code == 202
        now = time.monotonic()
        bursts += now - last_named.get(ids[n % 50], now) > QUIET.total_seconds()
        last_named[ids[n % 50]] = now
    posting = time.monotonic() - started
    eventually(lambda: db.scalar("SELECT count(*) FROM webhook_inbox WHERE user_id = :u AND read_at IS NOT NULL "
                                 "AND last_received_at <= read_at", u=org.user_id) == 50, seconds=60)  # fmt: skip
    reads = int(db.scalar("SELECT sum(reads) FROM webhook_inbox WHERE user_id = :u", u=org.user_id))
    named = int(db.scalar("SELECT sum(received) FROM webhook_inbox WHERE user_id = :u", u=org.user_id))
    print(f"burst: {named} webhooks for 50 invoices in {posting:.1f} s ({bursts} bursts), {reads} reads")
    # a record is read when a burst of webhooks for it is over, or every LONGEST_WAIT while one goes on (on
    # a loaded machine the webhooks for one record may come more than QUIET apart: more bursts, more reads)
    bound = bursts + 50 * math.ceil(posting / LONGEST_WAIT.total_seconds())
    assert named == 1000 and 50 <= reads <= min(bound, 999), (named, reads, bound)
    assert (
        org.control.books_calls(org.organization_id) - before <= reads + 5
    )  # a Books call per read (the reminders rules need none)


def test_the_lambda_receiver_queues_to_sqs_and_the_worker_answers_partial_batches(
    db: Database, make_org: MakeOrg, configure: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    """The two Lambda handlers with moto's SQS: a function URL event queued once (a second webhook for the
    record while it waits is coalesced), a forged one not at all; the SQS event applied, a bad message given
    back (it will rest in the dead-letter queue)."""
    from moto import mock_aws
    from webhooks.receiver_handler import _sqs
    from webhooks.receiver_handler import lambda_handler as receiver
    from webhooks.worker_handler import lambda_handler as worker

    from zoho_sync_cli.lambda_context import LocalLambdaContext

    org, invoice = synced_with_reminders(db, make_org)
    made = zs("tenant", "webhook", "--user-id", org.user_id, "--json", env={"WEBHOOK_BASE_URL": "https://x.example"})
    secret = json.loads(made.stdout)["headers"][HEADER]

    def event(given: str) -> dict[str, Any]:
        return {
            "rawPath": f"/webhooks/{org.user_id}",
            "queryStringParameters": {"kind": "invoice", "id": invoice},
            "headers": {HEADER.lower(): given, "content-type": "application/json"},
            "requestContext": {"http": {"method": "POST"}},
            "body": "{}",
            "isBase64Encoded": False,
        }

    with mock_aws():
        _sqs.cache_clear()
        import boto3

        queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="hooks")["QueueUrl"]
        configure(WEBHOOK_QUEUE_URL=queue_url, AWS_DEFAULT_REGION="us-east-1")
        with caplog.at_level(logging.DEBUG):
            answers = [receiver(event(g), LocalLambdaContext("r"))["statusCode"] for g in (secret, secret, "nope")]
        logged = " ".join(str(record.__dict__) for record in caplog.records)  # messages and their extra keys
        assert logged and secret not in logged and "nope" not in logged  # the request is not logged, but ids
        assert answers == [202, 202, 401]
        sqs = boto3.client("sqs", region_name="us-east-1")
        queued = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        assert [json.loads(m["Body"])["id"] for m in queued] == [invoice]  # one message for two webhooks
        db.run("UPDATE webhook_inbox SET read_at = clock_timestamp() WHERE user_id = :u", u=org.user_id)  # as read
        configure(WEBHOOK_QUEUE_URL=queue_url + "-gone")  # the queue refuses: the record must not look queued
        assert receiver(event(secret), LocalLambdaContext("r"))["statusCode"] == 503
        assert db.scalar("SELECT queued_at FROM webhook_inbox WHERE user_id = :u", u=org.user_id) is None
        configure(WEBHOOK_QUEUE_URL=queue_url)
        assert receiver(event(secret), LocalLambdaContext("r"))["statusCode"] == 202  # Zoho's next try queues it
        again = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        assert len(again) == 1
        _sqs.cache_clear()
    org.control.pay_invoice(org.organization_id, invoice)
    time.sleep(1.1)  # the burst is over: the record is due
    records = [{"messageId": "m1", "body": queued[0]["Body"]}, {"messageId": "m2", "body": "{not json"}]
    answer = worker({"Records": records}, LocalLambdaContext("w"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert pending_of(db, org, invoice) == 0


def test_a_worker_killed_mid_apply_loses_nothing(db: Database, make_org: MakeOrg, zoho: Any) -> None:
    """SIGKILL while the worker waits for Zoho's answer: the record stays to be read; the next `serve` (SQS
    would deliver the message again) frees the dead process's lease at once and applies it."""
    org, invoice = synced_with_reminders(db, make_org)
    first, address = start_serving()
    try:
        form = hooked(org, address)
        zoho.configure(hang_seconds=30.0)
        zoho.inject("invoices.get", "hang", count=1, organization_id=org.organization_id)
        org.control.pay_invoice(org.organization_id, invoice)
        eventually(lambda: org.control.stats()["by_org"].get(org.organization_id, {}).get("invoices.get", 0) > 0)
        first.kill()  # mid-read: the lease is held, nothing applied
        first.wait(timeout=30)
        assert pending_of(db, org, invoice) > 0
        assert db.scalar("SELECT count(*) FROM tenant_leases WHERE user_id = :u", u=org.user_id) == 1
    finally:
        zoho.configure(hang_seconds=2.5)
        if first.poll() is None:
            first.kill()
    port = int(address.rsplit(":", 1)[1])
    second, _ = start_serving(port)  # the URL Zoho has stays the same
    try:
        took = eventually(lambda: pending_of(db, org, invoice) == 0, seconds=10)
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert took < 10 and form["urls"]["invoice"].startswith(address)


def test_webhooks_may_make_a_quiet_tenants_hourly_run_rarer_but_only_when_asked(
    db: Database, make_org: MakeOrg, work_lists: str
) -> None:
    """Issue 24 item 3: with `--poll-hours-with-webhooks 6`, a scheduled execution leaves out a quiet tenant that
    webhooks reached and a run confirmed within 6 hours (reported `restingOnWebhooks`); without a recent webhook,
    with an older confirmation, with the setting off, or named, it runs."""
    from tenants.handler import lambda_handler as list_tenants
    from zoho_sync_cli.lambda_context import LocalLambdaContext

    org, _ = synced_with_reminders(db, make_org)

    def scheduled() -> dict[str, Any]:
        return dict(list_tenants({}, LocalLambdaContext("tenants")))

    assert zs("tenant", "update", "--user-id", org.user_id, "--poll-hours-with-webhooks", "1").returncode == 2
    assert zs("tenant", "update", "--user-id", org.user_id, "--poll-hours-with-webhooks", "6").returncode == 0
    assert org.user_id in work_listed(scheduled(), "quiet")  # no webhook yet
    hooked(org, "http://127.0.0.1:9")
    db.run("UPDATE webhook_secrets SET last_received_at = now() - interval '2 hours' WHERE user_id = :u", u=org.user_id)
    assert org.user_id in work_listed(scheduled())  # webhooks came, but none was ever applied: not working
    db.run("UPDATE webhook_secrets SET last_applied_at = now() - interval '2 hours' WHERE user_id = :u", u=org.user_id)
    rested = scheduled()
    assert org.user_id not in work_listed(rested) and rested["restingOnWebhooks"] == [org.user_id]
    assert rested["counts"]["restingOnWebhooks"] == 1
    named = dict(list_tenants({"userIds": [org.user_id]}, LocalLambdaContext("tenants")))
    assert org.user_id in work_listed(named)
    db.run("INSERT INTO webhook_inbox (user_id, kind, zoho_id, first_received_at, last_received_at, queued_at) "
           "VALUES (:u, 'invoice', '1', now(), now(), now() - interval '11 minutes')", u=org.user_id)  # fmt: skip
    assert org.user_id in work_listed(scheduled())  # a record stuck unread: webhooks are not keeping it current
    db.run("DELETE FROM webhook_inbox WHERE user_id = :u", u=org.user_id)
    db.run("UPDATE sync_metadata SET confirmed_at = now() - interval '7 hours' WHERE user_id = :u", u=org.user_id)
    assert org.user_id in work_listed(scheduled())  # its data was confirmed too long ago
    db.run("UPDATE sync_metadata SET confirmed_at = now() WHERE user_id = :u", u=org.user_id)
    assert zs("tenant", "update", "--user-id", org.user_id, "--poll-hours-with-webhooks", "0").returncode == 0
    assert org.user_id in work_listed(scheduled())  # off


def test_the_emulator_command_posts_webhooks_where_it_is_told() -> None:
    """`zoho-sync emulator --org O --webhook-url URL --webhook-secret S`: a change in O is posted to URL with the
    record's kind and id, and the secret in the header, as a Zoho rule with a webhook would."""
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from zoho_emulator.control import EmulatorControl

    got: list[tuple[str, str | None]] = []

    class Catch(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append((self.path, self.headers.get(HEADER)))
            self.send_response(202)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    catcher = HTTPServer(("127.0.0.1", 0), Catch)
    threading.Thread(target=catcher.serve_forever, daemon=True).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{catcher.server_address[1]}/webhooks/u1"
    emulator = subprocess.Popen(
        [CLI, "emulator", "--port", str(port), "--org", "777", "--customers", "5", "--invoices", "10",
         "--webhook-url", url, "--webhook-secret", "s3cret"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None and "Zoho Books emulator" in emulator.stdout.readline()
        control = EmulatorControl(f"http://127.0.0.1:{port}")
        invoice = control.snapshot("777")["invoices"][0]["invoice_id"]
        control.pay_invoice("777", invoice)
        eventually(lambda: len(got) >= 2)
    finally:
        emulator.terminate()
        _, stderr = emulator.communicate(timeout=30)
        catcher.shutdown()
    assert (f"/webhooks/u1?kind=invoice&id={invoice}", "s3cret") in got
    assert "interrupted (SIGTERM)" in stderr and "resumes" not in stderr  # the emulator has no pages to keep
    assert any(path.startswith("/webhooks/u1?kind=payment&id=") for path, _ in got)


def test_a_read_zoho_refuses_waits_for_the_sweep_and_is_given_up_after_8_tries(db: Database, make_org: MakeOrg) -> None:
    """Zoho refusing the invoice's read: the message is not given back (a delay is not a dead letter); the record
    waits (1 minute, doubling) and the freshen's sweep reads it again once its wait is over; after 8 failed
    reads it is dead (status counts it; the hourly run brings the change)."""
    org, invoice = synced_with_reminders(db, make_org)
    org.control.inject("invoices.get", "invalid_id", count=1000, organization_id=org.organization_id)
    message = json.dumps({"userId": org.user_id, "kind": "invoice", "id": invoice, "receivedAt": "2026-01-01T00:00:00"})
    db.run("INSERT INTO webhook_inbox (user_id, kind, zoho_id, first_received_at, last_received_at) "
           "VALUES (:u, 'invoice', :i, now() - interval '5 seconds', now() - interval '5 seconds')",
           u=org.user_id, i=invoice)  # fmt: skip
    assert work(db, get_settings(), TimeBudget(None, 0), [("m1", message)]).retry == []
    for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
        row = db.rows("SELECT attempts, next_attempt_at - now() AS wait, dead_at, last_error FROM webhook_inbox "
                      "WHERE user_id = :u", u=org.user_id)[0]  # fmt: skip
        assert row["attempts"] == attempt and "unusable" in row["last_error"]
        if attempt == webhooks.MAX_ATTEMPTS:
            break
        assert row["dead_at"] is None and 55 * 2 ** (attempt - 1) <= min(row["wait"].total_seconds(), 3600) + 5
        db.run("UPDATE webhook_inbox SET next_attempt_at = now() - interval '1 second', queued_at = now() - "
               "interval '6 minutes' WHERE user_id = :u", u=org.user_id)  # fmt: skip  # its wait over, its message old
        swept = zs("freshen", "--user-id", org.user_id, "--json")
        assert json.loads(swept.stdout)["counts"]["webhook_records_read"] == 0, swept.stderr  # read, refused
    assert row["dead_at"] is not None
    assert pending_of(db, org, invoice) > 0  # nothing applied from a refused read


def test_the_freshen_reads_what_no_worker_read(db: Database, make_org: MakeOrg) -> None:
    """A message lost (the queue down when the receiver sent it, or dead-lettered), or a tenant inactive when it
    came: the freshen's sweep reads the record once its message is 5 minutes old."""
    org, invoice = synced_with_reminders(db, make_org)
    org.control.pay_invoice(org.organization_id, invoice)
    db.run("INSERT INTO webhook_inbox (user_id, kind, zoho_id, first_received_at, last_received_at, queued_at) "
           "VALUES (:u, 'invoice', :i, now(), now(), NULL)", u=org.user_id, i=invoice)  # fmt: skip
    swept = json.loads(zs("freshen", "--user-id", org.user_id, "--json").stdout)
    assert swept["counts"]["webhook_records_read"] == 1 and pending_of(db, org, invoice) == 0


def test_one_tenants_error_gives_back_its_messages_only(
    db: Database, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in our code for one tenant does not cost the batch: the others are read, its messages go back."""
    from books_sync.webhooks.apply import apply_webhooks as real

    (a, invoice_a), (b, invoice_b) = synced_with_reminders(db, make_org), synced_with_reminders(db, make_org)
    for org, invoice in ((a, invoice_a), (b, invoice_b)):
        org.control.pay_invoice(org.organization_id, invoice)
        db.run("INSERT INTO webhook_inbox (user_id, kind, zoho_id, first_received_at, last_received_at) "
               "VALUES (:u, 'invoice', :i, now() - interval '5 seconds', now() - interval '5 seconds')",
               u=org.user_id, i=invoice)  # fmt: skip

    def broken_for_a(db: Database, tenant: Any, *args: Any, **kwargs: Any) -> Any:
        if tenant.user_id == a.user_id:
            raise KeyError("a bug")
        return real(db, tenant, *args, **kwargs)

    monkeypatch.setattr("books_sync.webhooks.worker.apply_webhooks", broken_for_a)
    messages = [(f"m-{org.user_id}", json.dumps({"userId": org.user_id, "kind": "invoice", "id": "1",
                                                 "receivedAt": "2026-01-01T00:00:00"})) for org in (a, b)]  # fmt: skip
    result = work(db, get_settings(), TimeBudget(None, 0), messages)
    assert result.retry == [f"m-{a.user_id}"]
    assert pending_of(db, b, invoice_b) == 0 and pending_of(db, a, invoice_a) > 0


def test_a_refused_payment_does_not_hold_back_the_rest(db: Database, make_org: MakeOrg) -> None:
    """A payment Zoho refuses to show (a grant without the payments scope answers 401): only that record waits;
    the invoice named beside it is read and applied."""
    org, invoice = synced_with_reminders(db, make_org)
    org.control.pay_invoice(org.organization_id, invoice)
    org.control.inject("customerpayments.get", "401", count=1000, organization_id=org.organization_id)
    for kind, zoho_id in (("payment", "999"), ("invoice", invoice)):
        db.run("INSERT INTO webhook_inbox (user_id, kind, zoho_id, first_received_at, last_received_at) "
               "VALUES (:u, :k, :i, now() - interval '5 seconds', now() - interval '5 seconds')",
               u=org.user_id, k=kind, i=zoho_id)  # fmt: skip
    message = json.dumps({"userId": org.user_id, "kind": "invoice", "id": invoice, "receivedAt": "2026-01-01T00:00:00"})
    work(db, get_settings(), TimeBudget(None, 0), [("m1", message)])
    assert pending_of(db, org, invoice) == 0
    rows = {r["kind"]: r["attempts"] for r in db.rows("SELECT kind, attempts FROM webhook_inbox WHERE user_id = :u",
                                                       u=org.user_id)}  # fmt: skip
    assert rows == {"payment": 1, "invoice": 0}
