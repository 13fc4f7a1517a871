"""Which tenants an execution syncs: every active one, or the ones asked for by id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from books_sync.db import Database
from books_sync.events import ListTenantsEvent
from books_sync.storage import tenants


@dataclass(frozen=True)
class NotSynced:
    user_id: str
    status: str
    reason: str | None


@dataclass(frozen=True)
class TenantSelection:
    user_ids: list[str]
    full_resync: bool
    max_concurrency: int
    unknown_user_ids: list[str] = field(default_factory=list)
    not_synced: list[NotSynced] = field(default_factory=list)

    def to_output(self) -> dict[str, Any]:
        return {
            "tenants": [{"userId": user_id, "fullResync": self.full_resync} for user_id in self.user_ids],
            "fullResync": self.full_resync,
            "maxConcurrency": self.max_concurrency,
            "unknownUserIds": self.unknown_user_ids,
            "needsReauth": [n.user_id for n in self.not_synced if n.status == "needs_reauth"],
            "notSynced": [{"userId": n.user_id, "status": n.status, "reason": n.reason} for n in self.not_synced],
        }


def select_tenants(db: Database, request: ListTenantsEvent, max_concurrency: int) -> TenantSelection:
    """Active tenants are synced; inactive ones and unknown ids are reported, never silently dropped."""
    known = {tenant.user_id: tenant for tenant in tenants.list_all(db)}
    wanted = list(request.user_ids) if request.user_ids is not None else sorted(known)
    selected: list[str] = []
    unknown: list[str] = []
    not_synced: list[NotSynced] = []
    for user_id in wanted:
        tenant = known.get(user_id)
        if tenant is None:
            unknown.append(user_id)
        elif tenant.status != "active":
            not_synced.append(NotSynced(user_id, tenant.status, tenant.status_reason))
        else:
            selected.append(user_id)
    return TenantSelection(selected, request.full_resync, max_concurrency, unknown, not_synced)
