"""`zoho-sync tenant webhook` (what to paste into Zoho's webhook form) and `zoho-sync webhooks serve` (the
receiver and the worker on this machine: the same code as the two Lambda functions, with a queue in memory
standing in for SQS: a message the worker gives back is delivered again after `VISIBILITY_SECONDS`, at most
`MAX_RECEIVES` times, then kept as dead-lettered, as SQS's redrive policy does)."""

from __future__ import annotations

import argparse
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from books_sync.clock import utcnow
from books_sync.db import Database
from books_sync.settings import get_settings
from books_sync.storage import tenants, webhooks
from books_sync.sync.time_budget import TimeBudget
from books_sync.webhooks.receiver import Answer, receive
from books_sync.webhooks.request import ID_FIELDS, MAX_BODY_BYTES, Kind, Request
from books_sync.webhooks.secret import HEADER, digest, new_secret
from books_sync.webhooks.worker import Worker, work
from zoho_sync_cli.console import CliError, Exit, note, result_json
from zoho_sync_cli.database import open_database
from zoho_sync_cli.pipeline import INSTANCE, RUN_HOLDER, free_if_abandoned, heartbeat
from zoho_sync_cli.tenant_cmd import valid_user_id

VISIBILITY_SECONDS = 2.0  # SQS's visibility timeout stand-in (the template's is 120 s)
MAX_RECEIVES = 5  # the template's maxReceiveCount
BATCH = 10  # messages the worker takes at once (the template's BatchSize)


def record_url(tenant_url: str, kind: Kind) -> str:
    """One module's rule URL at a tenant's address: Zoho fills the id from a placeholder (`+ New Placeholder`)."""
    return f"{tenant_url}?kind={kind}&id=${{{kind}.{ID_FIELDS[kind]}}}"


def webhook_url(base_url: str, user_id: str, kind: Kind) -> str:
    """The tenant's address for one module's rule."""
    return record_url(f"{base_url}/webhooks/{user_id}", kind)


def cmd_tenant_webhook(args: argparse.Namespace) -> int:
    base = get_settings().webhook_base_url
    if not base:
        raise CliError("set WEBHOOK_BASE_URL: the stack's WebhookUrl output, or the address `webhooks serve` prints")
    db = open_database()
    try:
        if tenants.get(db, args.user_id) is None:
            raise CliError(f"unknown tenant {args.user_id!r}")
        secret = None
        if args.rotate or not webhooks.has_secret(db, args.user_id):
            secret = new_secret()
            keep = timedelta(hours=get_settings().webhook_rotation_grace_hours)
            webhooks.set_secret(db, args.user_id, digest(secret), keep_previous_for=keep)
    finally:
        db.close()
    headers = {HEADER: secret if secret else "(shown only when made: --rotate makes a new one)"}
    urls = {kind: webhook_url(base, args.user_id, kind) for kind in ("invoice", "contact", "payment")}
    if args.json:
        result_json({"url": f"{base}/webhooks/{args.user_id}", "urls": urls, "method": "POST", "headers": headers})
    else:
        print(f"method: POST\nheader: {HEADER}: {headers[HEADER]}")
        for kind, url in urls.items():
            print(f"{kind} rule URL: {url}")
    if secret:
        note("the secret is shown this once and stored only as a hash: paste it into Zoho's webhook form now")
    return Exit.OK


@dataclass(order=True)
class _Message:
    visible_at: float
    message_id: str = field(compare=False)
    body: str = field(compare=False)
    receives: int = field(default=0, compare=False)


class LocalQueue:
    """SQS as the worker sees it: at-least-once delivery, redelivery after a visibility timeout, a dead-letter
    list after `MAX_RECEIVES`."""

    def __init__(self) -> None:
        self._waiting: queue.PriorityQueue[_Message] = queue.PriorityQueue()
        self.dead: list[str] = []
        self.sent = 0

    def send(self, body: dict[str, str]) -> None:
        self.sent += 1
        self._waiting.put(_Message(time.monotonic(), str(uuid.uuid4()), json.dumps(body)))

    def receive(self, limit: int, wait: float) -> list[_Message]:
        taken: list[_Message] = []
        deadline = time.monotonic() + wait
        while len(taken) < limit:
            try:
                message = self._waiting.get(timeout=max(deadline - time.monotonic(), 0.01) if not taken else 0.01)
            except queue.Empty:
                break
            if message.visible_at > time.monotonic():
                self._waiting.put(message)
                if taken or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
                continue
            message.receives += 1
            taken.append(message)
        return taken

    def give_back(self, message: _Message) -> None:
        if message.receives >= MAX_RECEIVES:
            self.dead.append(message.body)
            return
        message.visible_at = time.monotonic() + VISIBILITY_SECONDS
        self._waiting.put(message)


WORKER = Worker(holder=f"{RUN_HOLDER}:{INSTANCE}:webhooks", before_turns=free_if_abandoned)  # as `run` holds leases


class Connection:
    """One connection, shared under a lock, opened again when the database went away (a restart)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._db = open_database(announce=False)

    def get(self) -> Database:
        if not self._db.is_alive():
            self._db.close()
            self._db = open_database(announce=False)
        return self._db

    def close(self) -> None:
        self._db.close()


def _worker(stop: threading.Event, inbox: LocalQueue) -> None:
    settings = get_settings()
    connection = Connection()
    try:
        for user_id, kind, zoho_id in webhooks.tenants_waiting(connection.get()):  # what a killed serve left
            inbox.send({"userId": user_id, "kind": kind, "id": zoho_id, "receivedAt": utcnow().isoformat()})
        while not stop.is_set():
            batch = inbox.receive(BATCH, wait=0.5)
            if batch:
                _work_once(connection, settings, inbox, batch)
    except Exception as exc:  # noqa: BLE001 - said, not silent: the receiver goes on, the sweep reads later
        note(f"webhook worker stopped: {type(exc).__name__}: {exc}")
    finally:
        connection.close()


def _work_once(connection: Connection, settings: Any, inbox: LocalQueue, batch: list[_Message]) -> None:
    try:
        messages = [(m.message_id, m.body) for m in batch]
        result = work(connection.get(), settings, TimeBudget(None, 0), messages, WORKER)
    except Exception as exc:  # noqa: BLE001 - as a Lambda error: the whole batch is delivered again
        note(f"worker: {type(exc).__name__}: {exc}")
        retry = {m.message_id for m in batch}
    else:
        retry = set(result.retry)
        for turn in result.turns:
            note(f"  {turn.user_id}: {turn.status}, {turn.read} read for {turn.named} webhooks, "
                 f"{turn.api_calls} Zoho calls, {turn.cancelled} reminders cancelled")  # fmt: skip
    for message in batch:
        if message.message_id in retry:
            inbox.give_back(message)


def handler_class(connection: Connection, inbox: LocalQueue) -> type[BaseHTTPRequestHandler]:
    class WebhookHandler(BaseHTTPRequestHandler):
        server_version = "zoho-sync-webhooks"

        def do_POST(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            answer = self._receive()
            self._answer(answer)  # written after the lock is let go: a slow client holds no one up

        def _receive(self) -> Answer:
            raw = self.headers.get("Content-Length") or "0"
            length = int(raw) if raw.isdigit() else -1
            if length < 0:
                self.close_connection = True
                return Answer(400, {"error": "Content-Length: expected a number of bytes"})
            if length > MAX_BODY_BYTES:  # refused before reading it
                self.close_connection = True
                return Answer(413, {"error": f"the body is over {MAX_BODY_BYTES} bytes"})
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=url.path,
                query=dict(parse_qsl(url.query, keep_blank_values=True)),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
            with connection.lock:
                return receive(request, connection.get(), inbox.send)

        def _answer(self, answer: Answer) -> None:
            data = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Nothing from a request is logged: not even its status line (its URL names the tenant and record)."""

    return WebhookHandler


@contextmanager
def running_webhooks(host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[str, LocalQueue]]:
    """The receiver (an HTTP server) and the worker, each on a thread of its own, for the block; yields the
    address and the queue. Both stop before the heartbeat does: no lease outlives it unannounced."""
    connection = Connection()
    inbox = LocalQueue()
    server = ThreadingHTTPServer((host, port), handler_class(connection, inbox))
    stop = threading.Event()
    worker = threading.Thread(target=_worker, args=(stop, inbox), name="webhook-worker", daemon=True)
    receiver = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    try:
        with heartbeat():  # a later `zoho-sync` frees this process's leases at once if it is killed
            worker.start()
            receiver.start()
            try:
                yield f"http://{server.server_address[0]!s}:{int(server.server_address[1])}", inbox
            finally:
                server.shutdown()
                stop.set()
                worker.join(timeout=30)
    finally:
        server.server_close()
        connection.close()


def cmd_serve(args: argparse.Namespace) -> int:
    with running_webhooks(args.host, args.port) as (address, inbox):
        print(f"webhooks: {address} (receiver and worker; a queue in memory stands in for SQS)", flush=True)
        print(f"export WEBHOOK_BASE_URL={address}", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
        if inbox.dead:
            note(f"{len(inbox.dead)} message(s) dead-lettered (delivered {MAX_RECEIVES} times without success)")
    return Exit.OK


def register(commands: Any, tenant_actions: Any) -> None:
    hook = tenant_actions.add_parser(
        "webhook",
        help="the webhook to set up in Zoho Books for a tenant (URL, method, header with its secret)",
        description="Print what to paste into Zoho Books' webhook form for this tenant. The first time (or with "
        "--rotate) a new secret is made and shown once; it is stored only as a hash, and after a rotation the old "
        "one is accepted for WEBHOOK_ROTATION_GRACE_HOURS.",
    )
    hook.add_argument("--user-id", required=True, type=valid_user_id, help="the tenant")
    hook.add_argument("--rotate", action="store_true", help="make a new secret (the old one keeps working a while)")
    hook.add_argument("--json", action="store_true", help='{"urls": ..., "method": "POST", "headers": {...}}')
    hook.set_defaults(func=cmd_tenant_webhook)
    serve = commands.add_parser("webhooks", help="Zoho's webhooks on this machine", description="Zoho's webhooks.")
    actions = serve.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "serve",
        help="run the webhook receiver and worker here (a queue in memory stands in for SQS)",
        description="Receive Zoho's webhooks at http://HOST:PORT/webhooks/<tenant>, queue them in memory and apply "
        "them (each record read from Zoho by id) until interrupted.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8766, help="port (default: %(default)s; 0 picks a free one)")
    p.set_defaults(func=cmd_serve)
