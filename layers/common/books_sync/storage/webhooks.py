"""SQL for `webhook_secrets` and `webhook_inbox` (migration 0021): whom to believe, and what to read again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from books_sync.db import Database

MAX_ATTEMPTS = 8  # then the row is dead: counted by `zoho-sync status`, the hourly run brings the change
REQUEUE_AFTER = timedelta(minutes=5)  # a record still to be read gets a new message after this long
QUIET = timedelta(seconds=1)  # a record is read once no webhook named it for this long (a burst is one read)...
LONGEST_WAIT = timedelta(seconds=3)  # ... or once it has waited this long since its message


@dataclass(frozen=True)
class Named:
    """A record webhooks named, still to be read from Zoho."""

    kind: str
    zoho_id: str
    received: int  # how many webhooks named it (coalesced into this one read)
    attempts: int


def secrets_of(db: Database, user_id: str) -> tuple[bytes | None, ...] | None:
    """The tenant's current hash and, while it is valid, the previous one; None: no webhook secret."""
    rows = db.run(
        "SELECT secret_sha256, CASE WHEN previous_valid_until > now() THEN previous_sha256 END "
        "FROM webhook_secrets WHERE user_id = :user_id",
        user_id=user_id,
    )
    return (bytes(rows[0][0]), bytes(rows[0][1]) if rows[0][1] is not None else None) if rows else None


def set_secret(db: Database, user_id: str, sha256: bytes, *, keep_previous_for: timedelta) -> None:
    """A new secret; the one it replaces stays valid for `keep_previous_for` (Zoho's form is edited by hand)."""
    db.run(
        """
        INSERT INTO webhook_secrets AS w (user_id, secret_sha256) VALUES (:user_id, :sha256)
        ON CONFLICT (user_id) DO UPDATE SET
            previous_sha256 = w.secret_sha256,
            previous_valid_until = now() + make_interval(secs => :keep),
            secret_sha256 = EXCLUDED.secret_sha256,
            created_at = now()
        """,
        user_id=user_id,
        sha256=sha256,
        keep=keep_previous_for.total_seconds(),
    )


def has_secret(db: Database, user_id: str) -> bool:
    return bool(db.scalar("SELECT count(*) FROM webhook_secrets WHERE user_id = :u", u=user_id))


_TO_READ = "dead_at IS NULL AND (read_at IS NULL OR last_received_at > read_at)"


def database_now(db: Database) -> datetime:
    """The database's clock: every time in these tables is its, so no two hosts' clocks are compared."""
    return db.scalar("SELECT clock_timestamp()")  # type: ignore[no-any-return]


def received(db: Database, user_id: str, kind: str, zoho_id: str) -> bool:
    """A record a webhook named (now, by the database's clock), coalesced into its row. True when a message
    should be queued for it: it has just become to be read, or its last message is `REQUEUE_AFTER` old."""
    queue = db.scalar(
        """
        INSERT INTO webhook_inbox AS i (user_id, kind, zoho_id, first_received_at, last_received_at, queued_at)
            VALUES (:user_id, :kind, :zoho_id, clock_timestamp(), clock_timestamp(), now())
            ON CONFLICT (user_id, kind, zoho_id) DO UPDATE SET
                received = i.received + 1,
                last_received_at = greatest(i.last_received_at, EXCLUDED.last_received_at),
                attempts = CASE WHEN i.dead_at IS NULL THEN i.attempts ELSE 0 END,
                next_attempt_at = CASE WHEN i.dead_at IS NULL THEN i.next_attempt_at ELSE now() END,
                dead_at = NULL,
                queued_at = CASE WHEN (i.dead_at IS NULL AND (i.read_at IS NULL OR i.last_received_at > i.read_at))
                                      AND i.queued_at > now() - CAST(:requeue AS interval)
                                 THEN i.queued_at ELSE now() END
        RETURNING queued_at = now()
        """,
        user_id=user_id,
        kind=kind,
        zoho_id=zoho_id,
        requeue=_interval(REQUEUE_AFTER),
    )
    db.run("UPDATE webhook_secrets SET last_received_at = now() WHERE user_id = :user_id", user_id=user_id)
    return bool(queue)


def not_queued(db: Database, user_id: str, kind: str, zoho_id: str) -> None:
    """Its message could not be sent: the next webhook for it (or the freshen's sweep) queues one."""
    db.run(
        "UPDATE webhook_inbox SET queued_at = NULL WHERE user_id = :user_id AND kind = :kind AND zoho_id = :zoho_id",
        user_id=user_id,
        kind=kind,
        zoho_id=zoho_id,
    )


def left_unread(db: Database, limit: int) -> list[str]:
    """Tenants with records to read that are due and whose message is `REQUEUE_AFTER` old (lost, dead-lettered,
    given back while the tenant was busy or Zoho down): the freshen's sweep reads them."""
    rows = db.run(
        f"SELECT DISTINCT user_id FROM webhook_inbox WHERE {_TO_READ} AND next_attempt_at <= now() "  # noqa: S608  # nosec B608 - a constant
        "AND coalesce(queued_at, '-infinity') < now() - CAST(:requeue AS interval) ORDER BY user_id LIMIT :limit",
        requeue=_interval(REQUEUE_AFTER),
        limit=limit,
    )
    return [str(row[0]) for row in rows]


_READ_AT = (
    "greatest(next_attempt_at, least(last_received_at + CAST(:quiet AS interval), "
    "coalesce(queued_at, last_received_at) + CAST(:longest AS interval)))"
)  # when a record to be read is due: a burst over, or waited long enough; out of its backoff


def due(db: Database, user_id: str, limit: int) -> list[Named]:
    """Records to read now: named since their last read, the burst over (or waited long enough), out of
    their backoff."""
    rows = db.rows(
        f"SELECT kind, zoho_id, received, attempts FROM webhook_inbox WHERE user_id = :user_id AND {_TO_READ} "  # noqa: S608  # nosec B608 - constants
        f"AND {_READ_AT} <= now() ORDER BY next_attempt_at, kind, zoho_id LIMIT :limit",
        user_id=user_id,
        limit=limit,
        quiet=_interval(QUIET),
        longest=_interval(LONGEST_WAIT),
    )
    return [Named(**row) for row in rows]


def seconds_to_next(db: Database, user_id: str) -> float | None:
    """How long until the tenant's next record to be read is due (0: now); None: none is waiting."""
    value = db.scalar(
        f"SELECT extract(epoch FROM min({_READ_AT}) - now()) FROM webhook_inbox "  # noqa: S608  # nosec B608 - constants
        f"WHERE user_id = :user_id AND {_TO_READ}",
        user_id=user_id,
        quiet=_interval(QUIET),
        longest=_interval(LONGEST_WAIT),
    )
    return max(float(value), 0.0) if value is not None else None  # (greatest() would make a NULL 0)


def _interval(delta: timedelta) -> str:
    return f"{delta.total_seconds()} seconds"


def applied(db: Database, user_id: str, named: Sequence[Named], read_at: datetime) -> None:
    """Read (from `read_at` on) and applied: what was named before that is covered."""
    if not named:
        return
    db.run(
        "UPDATE webhook_inbox SET read_at = :read_at, reads = reads + 1, attempts = 0, last_error = NULL, "
        # named again while it was read: its longest wait starts over (a burst still going is read once more)
        "queued_at = CASE WHEN last_received_at > :read_at THEN now() ELSE queued_at END "
        "WHERE user_id = :user_id AND (kind, zoho_id) IN "
        "(SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:ids AS text[])))",
        user_id=user_id,
        kinds=[n.kind for n in named],
        ids=[n.zoho_id for n in named],
        read_at=read_at,
    )
    db.run(
        "DELETE FROM webhook_inbox WHERE user_id = :user_id AND read_at < now() - interval '7 days' "
        "AND last_received_at <= read_at",
        user_id=user_id,
    )
    db.run("UPDATE webhook_secrets SET last_applied_at = now() WHERE user_id = :user_id", user_id=user_id)


def failed(db: Database, user_id: str, named: Sequence[Named], error: str) -> None:
    """Asked again after 1 minute, doubling, at most an hour; dead after `MAX_ATTEMPTS`."""
    if not named:
        return
    db.run(
        """
        UPDATE webhook_inbox SET attempts = attempts + 1, last_error = :error,
               next_attempt_at = now() + least(interval '1 minute' * power(2, attempts), interval '1 hour'),
               dead_at = CASE WHEN attempts + 1 >= :max_attempts THEN now() END
         WHERE user_id = :user_id AND (kind, zoho_id) IN
               (SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:ids AS text[])))
        """,
        user_id=user_id,
        kinds=[n.kind for n in named],
        ids=[n.zoho_id for n in named],
        error=error[:300],
        max_attempts=MAX_ATTEMPTS,
    )


def tenants_waiting(db: Database) -> list[tuple[str, str, str]]:
    """One record to be read of each tenant that has some (kind, id): what a restarted worker starts from."""
    rows = db.run(
        f"SELECT DISTINCT ON (user_id) user_id, kind, zoho_id FROM webhook_inbox WHERE {_TO_READ} "  # noqa: S608  # nosec B608 - a constant
        "ORDER BY user_id, next_attempt_at"
    )
    return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]


def resting(db: Database, user_ids: list[str]) -> list[str]:
    """Of these tenants, those a scheduled run may leave out this hour: `poll_hours_with_webhooks` set, a
    webhook accepted and their data confirmed within that many hours."""
    rows = db.run(
        """
        SELECT m.user_id FROM sync_metadata AS m JOIN webhook_secrets AS w ON w.user_id = m.user_id
         WHERE m.user_id = ANY(CAST(:ids AS text[])) AND m.poll_hours_with_webhooks IS NOT NULL
           AND w.last_received_at > now() - make_interval(hours => m.poll_hours_with_webhooks)
           AND w.last_applied_at > now() - make_interval(hours => m.poll_hours_with_webhooks)
           AND m.confirmed_at > now() - make_interval(hours => m.poll_hours_with_webhooks)
           AND NOT EXISTS (SELECT 1 FROM webhook_inbox AS i  -- webhooks working: nothing stuck or given up
                            WHERE i.user_id = m.user_id
                              AND (i.dead_at IS NOT NULL
                                   OR ((i.read_at IS NULL OR i.last_received_at > i.read_at)
                                       AND coalesce(i.queued_at, i.first_received_at) < now() - interval '10 minutes')))
         ORDER BY m.user_id
        """,
        ids=user_ids,
    )
    return [str(row[0]) for row in rows]
