"""The emulator's HTTP server: Zoho's API paths, plus a control API under /_emulator/."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zoho_emulator.state import Emulator, Response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API gateway
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait 40 ms for an ACK
    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _respond(self, response: Response) -> None:
        if response.delay_seconds:
            time.sleep(response.delay_seconds)
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a hang fault outlived its timeout)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        emulator = self.server.emulator
        try:
            if parts.path.startswith("/_emulator/"):
                response = control(emulator, method, parts.path, parts.query, body)
            else:
                headers = {key.lower(): value for key, value in self.headers.items()}
                response = emulator.handle(method, parts.path, parts.query, body, headers)
        except Exception as exc:  # noqa: BLE001 - an emulator bug must show up as a 500, not kill the thread
            response = Response.json(500, {"code": 500, "message": f"emulator error: {exc!r}"})
        self._respond(response)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator


def _json_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("control requests take a JSON object")
    return data


def control(emulator: Emulator, method: str, path: str, query: str, body: bytes) -> Response:
    """The control API: set up organizations and tokens, edit records, inject faults, read counts."""
    data = _json_body(body) if method == "POST" else {}
    params = {key: values[-1] for key, values in parse_qs(query).items()}
    parts = [p for p in path[len("/_emulator/") :].split("/") if p]
    try:
        result = _control(emulator, method, parts, data, params)
    except (KeyError, ValueError, TypeError) as exc:
        return Response.json(400, {"error": str(exc)})
    return Response.json(200, result if result is not None else {"ok": True})


def _control(emulator: Emulator, method: str, parts: list[str], data: dict[str, Any], params: dict[str, str]) -> Any:
    route = (method, *parts[:1])
    if route == ("GET", "health"):
        return {"ok": True}
    if route == ("GET", "stats"):
        return emulator.stats()
    if parts == ["stats", "reset"]:
        emulator.reset_stats()
        return None
    if parts == ["settings"]:
        with emulator.lock:
            if "token_ttl_seconds" in data:
                emulator.token_ttl_seconds = int(data["token_ttl_seconds"])
            if "hang_seconds" in data:
                emulator.hang_seconds = float(data["hang_seconds"])
            if "latency_seconds" in data:
                emulator.latency_seconds = float(data["latency_seconds"] or 0)
            if "refresh_limit" in data:
                limit = data["refresh_limit"]
                emulator.refresh_limit = (int(limit["calls"]), float(limit["window_seconds"])) if limit else None
            if "daily_limit" in data:
                emulator.daily_limit = int(data["daily_limit"]) if data["daily_limit"] else None
            if "max_concurrent" in data:
                emulator.max_concurrent = int(data["max_concurrent"]) if data["max_concurrent"] else None
        return None
    if parts == ["clock"]:
        with emulator.lock:
            emulator.clock_offset += _seconds(data.get("advance_seconds", 0))
            if "frozen" in data:
                emulator.freeze_clock(bool(data["frozen"]))
        return {"now": emulator.now().isoformat()}
    if parts == ["rate-limit"]:
        emulator.set_rate_limit(data.get("calls"), float(data.get("window_seconds", 60.0)))
        return None
    if parts == ["faults"]:
        emulator.add_fault(
            str(data["endpoint"]),
            str(data["kind"]),
            int(data.get("count", 1)),
            data.get("organization_id"),
            int(data.get("after", 0)),
        )
        return None
    if parts == ["faults", "random"]:
        emulator.set_random_faults(
            float(data["rate"]), list(data["kinds"]), int(data.get("seed", 0)), data.get("endpoints")
        )
        return None
    if parts == ["faults", "clear"]:
        emulator.clear_faults()
        return None
    if parts == ["refresh-tokens"]:
        emulator.add_refresh_token(str(data["refresh_token"]), data.get("organizations"))
        return None
    if parts == ["refresh-tokens", "revoke"]:
        emulator.revoke_refresh_token(str(data["refresh_token"]))
        return None
    if parts == ["access-tokens", "expire"]:
        emulator.expire_access_tokens()
        return None
    if parts == ["orgs"] and method == "POST":
        org = emulator.add_org(
            str(data["organization_id"]),
            **{k: data[k] for k in ("seed", "customers", "invoices", "country_code", "no_phone_share", "vendors",
                                    "old_customer_share") if k in data},
        )  # fmt: skip
        customers = sum(1 for c in org.contacts.values() if c["contact_type"] == "customer")
        return {"organization_id": org.organization_id, "customers": customers, "invoices": len(org.invoices)}
    if len(parts) >= 2 and parts[0] == "orgs":
        return _control_org(emulator, method, parts[1], parts[2:], data)
    raise KeyError(f"no control route {method} /_emulator/{'/'.join(parts)}")


def _control_org(emulator: Emulator, method: str, org: str, parts: list[str], data: dict[str, Any]) -> Any:
    if parts == ["snapshot"]:
        return emulator.snapshot(org)
    if parts == ["contacts"]:
        return emulator.render(org, emulator.create_contact(org, data or None))
    if len(parts) == 2 and parts[0] == "contacts":
        return emulator.render(org, emulator.update_contact(org, parts[1], data))
    if len(parts) == 3 and parts[0] == "contacts":
        if parts[2] == "delete":
            emulator.delete_contact(org, parts[1])
            return None
        if parts[2] == "restore":
            return emulator.render(org, emulator.restore_contact(org, parts[1]))
    if parts == ["invoices"]:
        customer_id = str(data.pop("customer_id"))
        return emulator.render(org, emulator.create_invoice(org, customer_id, data))
    if len(parts) == 2 and parts[0] == "invoices":
        return emulator.render(org, emulator.update_invoice(org, parts[1], data))
    if len(parts) == 3 and parts[0] == "invoices":
        action = parts[2]
        if action == "pay":
            return emulator.render(org, emulator.pay_invoice(org, parts[1]))
        if action == "void":
            return emulator.render(org, emulator.void_invoice(org, parts[1]))
        if action == "delete":
            emulator.delete_invoice(org, parts[1])
            return None
    raise KeyError(f"no control route {method} /_emulator/orgs/{org}/{'/'.join(parts)}")


def _seconds(value: Any) -> timedelta:
    return timedelta(seconds=float(value))


@dataclass
class RunningEmulator:
    """An emulator serving on a local port in a background thread."""

    emulator: Emulator
    server: EmulatorHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/books/v3"

    @property
    def accounts_base_url(self) -> str:
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    emulator: Emulator | None = None,
) -> RunningEmulator:
    emulator = emulator or Emulator()
    server = EmulatorHTTPServer((host, port), emulator)
    thread = threading.Thread(target=server.serve_forever, name="zoho-emulator", daemon=True)
    thread.start()
    return RunningEmulator(emulator, server, thread)


@contextlib.contextmanager
def running(host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningEmulator]:
    instance = start(host, port)
    try:
        yield instance
    finally:
        instance.stop()
