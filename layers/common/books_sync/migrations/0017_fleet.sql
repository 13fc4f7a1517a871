-- 0017: the fleet on a bad day.
--
-- One circuit breaker per Zoho data center, shared by every process (storage/breakers.py): once several
-- organizations got "unavailable" answers with no good one in between, every tenant there defers at
-- once until one probe gets an answer.
CREATE TABLE zoho_breakers (
    data_center  text PRIMARY KEY,
    failing      jsonb NOT NULL DEFAULT '{}'::jsonb,  -- organization id -> its last unavailable answer
    opened_at    timestamptz,                          -- null: closed
    retry_at     timestamptz,                          -- open: when a probe may go
    probe_until  timestamptz,                          -- a probe is out until then (one at a time)
    openings     integer NOT NULL DEFAULT 0,           -- failed probes in a row: the wait doubles
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A failing tenant no longer fails the execution: it is retried on a growing interval (the next run,
-- then 2 h, 4 h, at most a day) and reported. Summarize keeps the count; ListTenants leaves a tenant
-- out until its retry time.
ALTER TABLE sync_metadata
    ADD COLUMN failing_since        timestamptz,  -- the first of the failed runs in a row
    ADD COLUMN failed_runs          integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_after          timestamptz,
    ADD COLUMN last_failure         text;         -- the step and the error's type

-- Why a due reminder waits, with the reason a deferred step gave (Zoho unavailable, or the day's calls).
CREATE OR REPLACE VIEW reminder_waits AS
SELECT s.reminder_id, s.user_id, s.send_at_utc, s.zoho_invoice_id, s.invoice_number, s.zoho_customer_id,
       s.customer_name, s.confirmed_at, s.give_up_at,
       CASE WHEN s.tenant_status = 'disabled' THEN 'tenant disabled'
            WHEN s.tenant_status = 'needs_reauth' THEN 'tenant needs re-authorization in Zoho'
            WHEN NOT s.detail_current THEN 'customer''s details being read again from Zoho'
            WHEN last.status = 'failed' THEN 'the last sync failed (' || split_part(last.error, ':', 1) || ')'
            WHEN last.status = 'deferred' THEN coalesce(last.summary ->> 'deferredReason', 'Zoho''s daily calls are spent')
            WHEN s.confirmed_at IS NULL THEN 'never confirmed by Zoho'
            ELSE 'not confirmed by Zoho within ' || extract(epoch FROM s.freshness)::integer / 60 || ' minutes'
       END AS waiting_reason
  FROM reminder_states AS s
  LEFT JOIN LATERAL (
        SELECT sr.status, sr.error, sr.summary
          FROM step_runs AS sr
         WHERE sr.user_id = s.user_id AND sr.status IN ('ok', 'failed', 'deferred')
         ORDER BY sr.finished_at DESC NULLS LAST
         LIMIT 1) AS last ON true
 WHERE s.due_now
   AND (s.ready OR NOT s.detail_current)
   AND NOT (s.ready AND coalesce(s.fresh, false));

-- A retried task must never run a step twice at once: the tenant's lease also names the invocation
-- working on it now. A second invocation of the same execution (a Lambda retried while the first still
-- runs) waits for it (StepStillRunning, retried by the state machine) instead of working beside it.
ALTER TABLE tenant_leases
    ADD COLUMN invocation        text,
    ADD COLUMN invocation_until  timestamptz;

-- Executions never pile up: the execution syncing every tenant holds this lease from ListTenants to
-- Summarize (each step renews it); a scheduled start while it is held by a live execution ends at once.
CREATE TABLE fleet_lease (
    name         text PRIMARY KEY,  -- 'sync': the scheduled, all-tenant execution
    holder       text NOT NULL,     -- its execution id
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
