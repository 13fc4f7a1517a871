"""Zoho-shaped webhooks from the emulator: when a record changes, POST to the URL the organization's
webhook option names (as a workflow rule with a webhook action would), the record's id put where the URL
has its placeholder, the headers as configured, and as body the module's record under its name
(`{"invoice": {...}}`: Zoho documents "all parameters associated with the module", not the shape).

Posting happens on a thread of its own, after the change (Zoho's rules run after the record is saved, not
at once); what each post got back is kept for tests (`sent`).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

PLACEHOLDERS = {
    "invoice": "${invoice.invoice_id}",
    "contact": "${contact.contact_id}",
    "payment": "${payment.payment_id}",
}


def parse_webhook(value: Any) -> dict[str, Any] | None:
    """`{"urls": {"invoice"|"contact"|"payment": url}, "headers": {name: value}}` (as `tenant webhook --json`)."""
    if value is None:
        return None
    urls, headers = (value.get("urls"), value.get("headers", {})) if isinstance(value, dict) else (None, None)
    if not isinstance(urls, dict) or not urls or not set(urls) <= set(PLACEHOLDERS):
        raise ValueError("webhook: expected {urls: {invoice|contact|payment: url}, headers: {name: value}}")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in [*urls.values(), *headers.values()]):
        raise ValueError("webhook: urls and headers are strings")
    return {"urls": dict(urls), "headers": dict(headers)}


@dataclass(frozen=True)
class Sent:
    kind: str
    record_id: str
    status: int | None  # None: no answer (refused, timed out)


class WebhookPoster:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="emulator-webhook")
        self._lock = threading.Lock()
        self.sent: list[Sent] = []

    def post(self, webhook: dict[str, Any], kind: str, record: dict[str, Any]) -> None:
        url = webhook["urls"].get(kind)
        if url is None:
            return  # no rule on this module
        record_id = str(record.get(f"{kind}_id"))
        target = url.replace(PLACEHOLDERS[kind], record_id)
        body = json.dumps({kind: record}, default=str)
        self._pool.submit(self._send, target, dict(webhook["headers"]), body, kind, record_id)

    def _send(self, url: str, headers: dict[str, str], body: str, kind: str, record_id: str) -> None:
        try:
            status: int | None = requests.post(
                url, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=10
            ).status_code
        except requests.RequestException:
            status = None
        with self._lock:
            self.sent.append(Sent(kind, record_id, status))

    def outcomes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"kind": s.kind, "id": s.record_id, "status": s.status} for s in self.sent]
