"""The emulator's HTTP server: Zoho's API paths, plus a control API under /_emulator/."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from zoho_emulator.control_api import control
from zoho_emulator.state import Emulator
from zoho_emulator.wire import Response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API gateway
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait 40 ms for an ACK
    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _respond(self, response: Response) -> None:
        try:
            if response.delay_seconds:
                time.sleep(response.delay_seconds)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a hang fault outlived its timeout)
        finally:
            response.finish()

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
