"""The frame both sync steps (customers, invoices) run in, the way a Meltano stream runs in its SDK.

The frame owns what every step needs: the phase ladder and the checkpoint between invocations,
the page loop over a Zoho list with its "list is not advancing" check, the time budget, the
deferral when the daily Zoho budget is spent, the deletion reconcile's id walk and verify loop,
and the one-run-per-tenant lock. A step declares its phases and, per phase, how one row is taken
and how a batch of taken rows is written.

One rule covers every interruption: the rows handled so far are committed, then the original
exception goes on (`OutOfTime` → the checkpoint is saved and the step answers `hasMore`;
`ZohoDeferral` (the day's calls spent, Zoho unavailable) → `status: deferred`; anything else fails the
step with data saved).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger

from books_sync.clock import utcnow
from books_sync.db import Database
from books_sync.errors import DatabaseError, DatabaseUnavailable, OutOfTime, ZohoDeferral
from books_sync.observability import report_progress
from books_sync.records.organizations import OrganizationProfile
from books_sync.settings import Settings
from books_sync.storage import sync_state
from books_sync.storage.tenants import Tenant
from books_sync.sync.clients import zoho_client
from books_sync.sync.customers import CustomerLookup, fetch_customer
from books_sync.sync.organization import ensure_organization_profile
from books_sync.sync.scan import Checkpoint, Order, PageReading, PassReader, Window, start_or_resume, window_after
from books_sync.sync.summary import Phase, SyncSummary
from books_sync.sync.time_budget import TimeBudget
from books_sync.zoho.client import Page, ZohoClient

S = TypeVar("S", bound=SyncSummary)
Item = TypeVar("Item")
RowIn_contra = TypeVar("RowIn_contra", contravariant=True)

_RECONCILE_PHASES: tuple[Phase, ...] = ("reconcile", "verify")
VERIFY_BATCH = 50
UnseenQuery = Callable[[datetime, str | None, int], list[str]]  # (since, after, limit) → ids to check


def unseen_batches(candidates: UnseenQuery, since: datetime, *, keyed: bool) -> Iterator[list[str]]:
    """Batches of `VERIFY_BATCH` rows to check, each asked for once (a row Zoho does not answer for stays
    unseen, and may be offered again).

    `keyed`: `candidates(since, after, limit)` gives rows in id order after `after`, the last id of the
    previous batch, so a walk reads each row once (from the start each time it read n rows for every 50
    checked). Otherwise (by urgency) it ignores `after`, and each call asks for room for every row
    already tried, which may come first again."""
    tried: set[str] = set()
    after: str | None = None
    while True:
        limit = VERIFY_BATCH if keyed else VERIFY_BATCH + len(tried)
        unseen = [zoho_id for zoho_id in candidates(since, after, limit) if zoho_id not in tried]
        if not unseen:
            return
        batch = unseen[:VERIFY_BATCH]
        if not keyed:  # keyed walks never go back: nothing to remember
            tried.update(batch)
        after = batch[-1]
        yield batch


def each_committing(items: Iterable[Item], take: Callable[[Item], None], commit: Callable[[], None]) -> None:
    """`take` each item in order, then `commit`; when an item raises, commit the ones taken, then re-raise.

    A database failure is not followed by a commit (the connection may be broken): it goes on as is.
    """
    try:
        for item in items:
            take(item)
    except (DatabaseError, DatabaseUnavailable):
        raise
    except BaseException:
        commit()
        raise
    commit()


class Listed(Protocol):
    """A parsed list row: its Zoho id and modification time."""

    @property
    def zoho_id(self) -> str: ...

    @property
    def modified_at(self) -> datetime | None: ...  # None: later than now, so unknown


Row = TypeVar("Row", bound=Listed)


@dataclass(frozen=True)
class ListScan(Generic[Row]):
    """What a step declares about the list it scans; the frame walks it."""

    noun: str  # "contact", "invoice": names the endpoint ("contacts.list") and the log lines
    fetch: Callable[[datetime | None, int, int], Page]  # (modified after, page, per_page) → a window of the list
    parse: Callable[[object], Row | str]  # a row, or why it cannot be used
    order: Order  # the order `fetch` asks for; "any" when the list cannot be sorted by modification time
    stalled: str = "no usable new rows"  # how the "list is not advancing" error words an empty page
    wanted: Callable[[Row], bool] = lambda row: True  # False: not a record this step syncs

    @property
    def endpoint(self) -> str:
        return f"{self.noun}s.list"

    def a(self, word: str) -> str:
        return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


class PageBatch(Protocol[RowIn_contra]):
    """The rows of one page a step has taken so far; written with the checkpoint in one transaction."""

    def take(self, row: RowIn_contra) -> None: ...

    def write(self, checkpoint: Checkpoint) -> None: ...


class VerifyBatch(Protocol):
    """Rows cached here that Zoho's id list did not show, checked one by one."""

    def check(self, zoho_id: str) -> None: ...

    def write(self, reconcile_started_at: datetime) -> None: ...


class SyncStep(Generic[S]):
    """A step declares, in its class line, what it is; `run_phase` does one of its phases.

    `class CustomerSync(SyncStep[Summary], step="customer", summary=Summary, phases=(...))`.
    """

    step: ClassVar[sync_state.Step]  # its columns in sync_metadata
    service: ClassVar[str]  # its name in logs, metrics and its lock ("customer-sync")
    logger: ClassVar[Logger]
    summary_type: ClassVar[type[SyncSummary]]
    phases: ClassVar[tuple[Phase, ...]]

    def __init_subclass__(
        cls,
        *,
        step: sync_state.Step,
        summary: type[SyncSummary],
        phases: tuple[Phase, ...],
    ) -> None:
        super().__init_subclass__()
        cls.step, cls.service, cls.summary_type, cls.phases = step, f"{step}-sync", summary, phases
        cls.logger = Logger(service=cls.service, child=True)

    def __init__(
        self,
        db: Database,
        client: ZohoClient,
        tenant: Tenant,
        settings: Settings,
        budget: TimeBudget,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.client, self.tenant, self.settings, self.budget, self.now = (
            db,
            client,
            tenant,
            settings,
            budget,
            now,
        )
        self.summary: S = cast(S, self.summary_type(user_id=tenant.user_id))
        self.started_at = now()
        self._organization: OrganizationProfile | None = None
        self.prepare()

    def prepare(self) -> None:
        """A step's own per-run state, set up after the frame's."""

    def run_phase(self, phase: Phase, checkpoint: Checkpoint) -> None:
        """Do one phase to its end; raise `OutOfTime` to pause it (its progress is committed)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ the run

    def run(self, full_resync: bool) -> S:
        try:
            self._run(full_resync)
        except ZohoDeferral as exc:
            self.summary.status = "deferred"
            self.summary.has_more = False
            self.summary.deferred_reason = exc.reason
            self.logger.warning(
                f"deferred ({exc.reason}); the run resumes from its checkpoint next time", extra={"why": str(exc)}
            )
        finally:
            self.summary.api_calls = self.client.calls
        self.logger.info(f"{self.step} sync step done", extra=self.summary.to_output())
        return self.summary

    def _run(self, full_resync: bool) -> None:
        state = sync_state.load(self.db, self.tenant.user_id, self.step)
        checkpoint = self._start(state, full_resync)
        ladder = [p for p in self.phases if checkpoint.reconcile or p not in _RECONCILE_PHASES]
        for phase in ladder[ladder.index(checkpoint.phase) :] if checkpoint.phase in ladder else []:
            checkpoint.phase = self.summary.phase = phase
            try:
                self.run_phase(phase, checkpoint)
            except OutOfTime:
                self._pause(checkpoint)
                return
        reconciled_at = checkpoint.reconcile_started_at
        if reconciled_at is None and state.last_reconcile_at is None:
            reconciled_at = checkpoint.started_at  # nothing was cached: this first scan is the baseline
        with self.db.transaction():
            sync_state.finish(self.db, self.tenant.user_id, self.step, checkpoint.started_at, reconciled_at)
        self.summary.phase = "done"

    def reconcile_due(self, state: sync_state.ScanState, now: datetime) -> bool:
        """The deletion reconcile runs every so often (a step may make it run more often)."""
        last = state.last_reconcile_at
        return last is None or now - last >= self.settings.reconcile_interval(self.step)

    def _start(self, state: sync_state.ScanState, full_resync: bool) -> Checkpoint:
        now = self.now()
        due = self.reconcile_due(state, now)
        checkpoint, resumed = start_or_resume(
            state.checkpoint,
            cursor=state.cursor,
            window_days=state.window_days,
            overlap_seconds=self.settings.cursor_overlap_seconds,
            full_resync=full_resync,
            reconcile=due and sync_state.cached_rows(self.db, self.tenant.user_id, self.step) > 0,
            first_phase=self.phases[0],
            now=now,
        )
        if resumed:
            self.logger.info(f"resuming {self.step} sync", extra={"phase": checkpoint.phase})
        return checkpoint

    def _pause(self, checkpoint: Checkpoint) -> None:
        with self.db.transaction():
            sync_state.save_progress(self.db, self.tenant.user_id, self.step, None, checkpoint.to_json())
        self.summary.has_more = True

    def save_checkpoint(self, checkpoint: Checkpoint, cursor: datetime | None = None) -> None:
        """Inside a page's transaction: the checkpoint, and the cursor when a pass has ended."""
        sync_state.save_progress(self.db, self.tenant.user_id, self.step, cursor, checkpoint.to_json())

    # ------------------------------------------------------------------------------ shared services

    def window_start(self) -> datetime:
        """The oldest modification time the step mirrors (its sync window)."""
        days = sync_state.load(self.db, self.tenant.user_id, self.step).window_days
        return self.started_at - timedelta(days=days)

    def organization(self) -> OrganizationProfile:
        """The organization's country and zone (one Zoho call the first time, then cached)."""
        if self._organization is None:
            self._organization = ensure_organization_profile(self.db, self.client, self.tenant, self.now())
        return self._organization

    def fetch_customer(self, zoho_id: str, list_hash: str | None = None) -> CustomerLookup:
        """One customer's detail, within the time budget (raises `OutOfTime` before asking)."""
        self.budget.check()
        organization = self.organization()
        lookup = fetch_customer(self.client, zoho_id, organization, list_hash)
        self.budget.record_progress()
        return lookup

    # ------------------------------------------------------------------------------ list scan

    def scan(
        self, checkpoint: Checkpoint, scan: ListScan[Row], open_page: Callable[[list[Row]], PageBatch[Row]]
    ) -> None:
        """Read the pass of the checkpoint to its end in overlapping windows (`sync.scan`), each window
        committed with the pass's position. A window that shows none of the rows read just before (the
        list shifted further than the overlap between two reads) makes the pass read again from before it.
        A resumed pass reads again from its `resume_at`, skipping what it took there; the cursor moves
        once, when the pass is read to its end.
        """
        reader = PassReader[Row](
            scan.endpoint, scan.order, lambda row: (row.zoho_id, row.modified_at), scan.wanted, stalled=scan.stalled
        )
        checkpoint.position = checkpoint.position.resumed()
        window, resuming = window_after(checkpoint.position.read), True
        while True:
            self.budget.check()
            page = scan.fetch(checkpoint.position.since, window.page, window.per_page)
            parsed = [scan.parse(row) for row in page.rows]
            reading = reader.read(checkpoint.position, window, parsed, resuming=resuming)
            self._log_odd_rows(scan, window, reading)
            reader.refuse_a_stall(reading, window, page.has_more)
            self._take_window(checkpoint, window, reading, open_page(self._rows(reading, "take")), scan.order)
            if reading.continuous:
                checkpoint.position = checkpoint.position.passed(window, len(parsed))
                if not page.has_more or reading.past_the_end:
                    break
                resuming = False
            else:
                checkpoint.position = checkpoint.position.step_back(window)
            window = window_after(checkpoint.position.read)
        with self.db.transaction():
            self.save_checkpoint(checkpoint, checkpoint.position.cursor_at_end(checkpoint.started_at))

    @staticmethod
    def _rows(reading: PageReading[Row], verdict: str) -> list[Row]:
        return [row for kind, _, row in reading.rows if kind == verdict]

    def _log_odd_rows(self, scan: ListScan[Row], window: Window, reading: PageReading[Row]) -> None:
        where = {"page": window.page, "perPage": window.per_page}
        if not reading.continuous:
            self.logger.warning(
                f"the {scan.noun}s list moved further than the overlap between two reads (rows deleted or "
                "edited meanwhile): reading again from before this window",
                extra=where,
            )
        if reading.repeated:
            self.logger.warning(
                f"{scan.a(scan.noun + 's')} page repeats rows; each row is used once",
                extra={**where, "repeated": reading.repeated},
            )
        for reason in reading.broken:
            self.summary.skipped_invalid += 1
            self.logger.warning(f"skipping {scan.a(scan.noun)} row", extra={"reason": reason})
        for _, _, row in reading.rows:
            if row.modified_at is None:
                self.logger.warning(
                    f"{scan.a(scan.noun)} row's last_modified_time is later than now: stored as unknown, "
                    "and it moves no cursor",
                    extra={"zohoId": row.zoho_id},
                )

    def _take_window(
        self, checkpoint: Checkpoint, window: Window, reading: PageReading[Row], batch: PageBatch[Row], order: Order
    ) -> None:
        """Take the window's rows in order; the position moves row by row, so an interruption keeps the prefix."""
        position = checkpoint.position.observed(reading.went_down, reading.went_up)
        anchored = reading.continuous
        taken = 0

        def take(item: tuple[str, int, Row]) -> None:
            nonlocal position, taken
            verdict, offset, row = item
            if verdict == "take":
                batch.take(row)
                position = position.took(offset, row.zoho_id, row.modified_at, order, anchored=anchored)
                taken += 1
            else:
                position = position.saw(offset, row.zoho_id, row.modified_at, order, anchored=anchored)

        def commit() -> None:
            checkpoint.position = position
            if taken:
                batch.write(checkpoint)
                self.budget.record_progress()
            report_progress(self.service, "page", page=window.page, rows=taken, calls=self.client.calls)

        each_committing(reading.rows, take, commit)

    # ------------------------------------------------------------------------------ deletion reconcile

    def walk_listed_ids(
        self,
        checkpoint: Checkpoint,
        fetch_page: Callable[[int], Page],
        catch_up: Callable[[list[Any]], Sequence[str]],
        mark_seen: Callable[[Sequence[str], datetime], None],
    ) -> None:
        """Walk every row Zoho lists, page by page from the checkpoint: `catch_up` stores what the cache
        lacks or holds older (its modification time; no extra call) and gives the page's ids, which
        `mark_seen` marks seen at the reconcile's start, committed with the checkpoint. Raises
        `OutOfTime` to pause.
        """
        if checkpoint.reconcile_started_at is None:
            checkpoint.reconcile_started_at = self.now()
        while True:
            self.budget.check()
            page = fetch_page(checkpoint.reconcile_page)
            ids = catch_up(page.rows)
            with self.db.transaction():
                mark_seen(ids, checkpoint.reconcile_started_at)
                checkpoint.reconcile_page += 1
                if not page.has_more:
                    checkpoint.phase = "verify"
                sync_state.save_progress(self.db, self.tenant.user_id, self.step, None, checkpoint.to_json())
            self.budget.record_progress()
            if not page.has_more:
                return

    def verify_unseen(
        self,
        checkpoint: Checkpoint,
        candidates: UnseenQuery,
        open_batch: Callable[[], VerifyBatch],
        *,
        since: datetime | None = None,
        keyed: bool = True,
    ) -> None:
        """Rows Zoho has not shown since `since` (default: the reconcile's id walk began) are checked one by
        one, committed per batch of `VERIFY_BATCH`; each checked row is marked seen at `since`
        (`unseen_batches`: `keyed`, the candidates come in id order after the last batch's)."""
        started = since or checkpoint.reconcile_started_at
        assert started is not None
        for batch in unseen_batches(candidates, started, keyed=keyed):
            self._check_each(batch, open_batch(), started)

    def _check_each(self, unseen: list[str], batch: VerifyBatch, started: datetime) -> None:
        def take(zoho_id: str) -> None:
            self.budget.check()
            batch.check(zoho_id)
            self.budget.record_progress()

        each_committing(unseen, take, lambda: batch.write(started))


def run_sync_step(
    step: type[SyncStep[S]],
    db: Database,
    tenant: Tenant,
    settings: Settings,
    *,
    full_resync: bool,
    budget: TimeBudget,
    client: ZohoClient | None = None,
) -> SyncSummary:
    """One invocation for one tenant (the handler holds the tenant's lease: no other run works on it)."""
    client = client or zoho_client(db, tenant, settings, deadline=budget.seconds_left)
    try:
        return step(db, client, tenant, settings, budget).run(full_resync)
    except Exception as exc:
        exc.zoho_calls = client.calls  # type: ignore[attr-defined]  # read by errors.calls_made
        raise
