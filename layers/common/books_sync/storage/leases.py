"""SQL for `tenant_leases`: which execution works on a tenant now (migration 0012).

A lease is a row with an expiry instead of a session-level advisory lock, so no database session
holds state across commits (RDS Proxy can reuse the connection after every transaction) and a run
that dies leaves nothing behind for longer than its expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from books_sync.db import Database


@dataclass(frozen=True)
class Lease:
    user_id: str
    holder: str
    step: str
    acquired_at: datetime
    expires_at: datetime


def take(
    db: Database, user_id: str, holder: str, step: str, seconds: float, *, invocation: str | None = None
) -> Lease | None:
    """Take or renew the tenant's lease for `seconds`; None (and the holder's lease) when another holds it.

    A lease the same holder already has is renewed, unless another live invocation of that holder works on
    the tenant (`invocation`: a Lambda retried while the first still runs): then the lease is not taken and
    the caller sees its own holder in it. An expired lease is taken over.
    """
    taken = db.one(
        """
        INSERT INTO tenant_leases AS l (user_id, holder, step, acquired_at, expires_at, invocation, invocation_until)
        VALUES (:user_id, :holder, :step, now(), now() + make_interval(secs => :seconds), :invocation,
                CASE WHEN CAST(:invocation AS text) IS NOT NULL THEN now() + make_interval(secs => :seconds) END)
        ON CONFLICT (user_id) DO UPDATE SET
            holder = EXCLUDED.holder,
            step = EXCLUDED.step,
            acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END,
            expires_at = EXCLUDED.expires_at,
            invocation = EXCLUDED.invocation,
            invocation_until = EXCLUDED.invocation_until
        WHERE (l.holder = EXCLUDED.holder
               AND (l.invocation IS NULL OR l.invocation = EXCLUDED.invocation OR l.invocation_until <= now()))
           OR l.expires_at <= now()
        RETURNING holder
        """,
        user_id=user_id,
        holder=holder,
        step=step,
        seconds=float(seconds),
        invocation=invocation,
    )
    return None if taken is not None else current(db, user_id)


def end_invocation(db: Database, user_id: str, invocation: str) -> None:
    """The invocation is done with the tenant (its holder may keep the lease for its next step)."""
    db.run(
        "UPDATE tenant_leases SET invocation = NULL, invocation_until = NULL "
        "WHERE user_id = :user_id AND invocation = :invocation",
        user_id=user_id,
        invocation=invocation,
    )


def current(db: Database, user_id: str) -> Lease | None:
    """The tenant's unexpired lease, if any."""
    row = db.one(
        "SELECT user_id, holder, step, acquired_at, expires_at FROM tenant_leases "
        "WHERE user_id = :user_id AND expires_at > now()",
        user_id=user_id,
    )
    return Lease(**row) if row else None


def give_back(db: Database, user_id: str, holder: str) -> None:
    """End the holder's lease (a lease another holder has taken over meanwhile is left alone)."""
    db.run("DELETE FROM tenant_leases WHERE user_id = :user_id AND holder = :holder", user_id=user_id, holder=holder)


def give_back_all(db: Database, holder: str) -> int:
    """End every lease of a holder (an execution at its end: a tenant that failed kept its lease)."""
    return len(db.run("DELETE FROM tenant_leases WHERE holder = :holder RETURNING 1", holder=holder))


def in_flight(db: Database, user_ids: list[str]) -> dict[str, Lease]:
    """The unexpired leases among these tenants, by tenant."""
    rows = db.rows(
        "SELECT user_id, holder, step, acquired_at, expires_at FROM tenant_leases "
        "WHERE user_id = ANY(CAST(:ids AS text[])) AND expires_at > now()",
        ids=user_ids,
    )
    return {row["user_id"]: Lease(**row) for row in rows}


def serialize_in_transaction(db: Database, key: str) -> None:
    """Wait for a lock on `key` held until this transaction ends (never across commits: proxy-safe)."""
    if not db.in_transaction:
        raise RuntimeError("serialize_in_transaction needs an open transaction")
    db.run("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))", key=key)


# ------------------------------------------------------------------------------ `zoho-sync run` processes


@dataclass(frozen=True)
class Process:
    """Where a `zoho-sync run` process runs: its PID namespace (`boot id:namespace inode`) and PID."""

    pid_namespace: str
    pid: int


@dataclass(frozen=True)
class Heartbeat:
    seconds_ago: float
    process: Process | None


def beat(db: Database, instance: str, process: Process | None = None) -> None:
    """The `zoho-sync run` process `instance` is alive (migration 0019)."""
    db.run(
        "INSERT INTO run_heartbeats (instance, pid_namespace, pid) VALUES (:instance, :namespace, :pid) "
        "ON CONFLICT (instance) DO UPDATE SET beat_at = now(), pid_namespace = EXCLUDED.pid_namespace, "
        "pid = EXCLUDED.pid",
        instance=instance,
        namespace=process.pid_namespace if process else None,
        pid=process.pid if process else None,
    )


def heartbeat(db: Database, instance: str) -> Heartbeat | None:
    """The instance's last beat (None: never, or forgotten)."""
    row = db.one(
        "SELECT extract(epoch FROM now() - beat_at) AS seconds_ago, pid_namespace, pid FROM run_heartbeats "
        "WHERE instance = :instance",
        instance=instance,
    )
    if row is None:
        return None
    where = Process(row["pid_namespace"], int(row["pid"])) if row["pid_namespace"] and row["pid"] else None
    return Heartbeat(float(row["seconds_ago"]), where)


def stop_beating(db: Database, instance: str) -> None:
    """The process ends: forget it, and any heartbeat a day old (processes killed long ago)."""
    db.run(
        "DELETE FROM run_heartbeats WHERE instance = :instance OR beat_at < now() - interval '1 day'",
        instance=instance,
    )


# ------------------------------------------------------------------------------ the all-tenant execution


def take_fleet(db: Database, holder: str, seconds: float) -> str | None:
    """The all-tenant execution's lease (`fleet_lease`): None when taken (or renewed) by `holder`, else the
    live execution that holds it."""
    row = db.one(
        """
        INSERT INTO fleet_lease AS l (name, holder, expires_at)
        VALUES ('sync', :holder, now() + make_interval(secs => :s))
        ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
            acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END
        WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
        RETURNING holder
        """,
        holder=holder,
        s=float(seconds),
    )
    if row is not None:
        return None
    return str(db.scalar("SELECT holder FROM fleet_lease WHERE name = 'sync'"))


def renew_fleet(db: Database, holder: str, seconds: float) -> None:
    """A step of the all-tenant execution is working: its lease lasts `seconds` more (no-op for others)."""
    db.run(
        "UPDATE fleet_lease SET expires_at = now() + make_interval(secs => :s) "
        "WHERE name = 'sync' AND holder = :holder",
        holder=holder,
        s=float(seconds),
    )


def give_back_fleet(db: Database, holder: str) -> None:
    db.run("DELETE FROM fleet_lease WHERE name = 'sync' AND holder = :holder", holder=holder)
