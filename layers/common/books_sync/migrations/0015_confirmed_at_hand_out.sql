-- 0015: a reminder reaches a sender only on data Zoho confirmed minutes ago, and the rule lives here,
-- in the views and the claim every sender goes through, not in a setting of our processes.
--
-- "Confirmed at T" (sync_metadata.confirmed_at): a customer pass and an invoice pass that started at T
-- or later, over the changes since the previous ones, were read to their end and the reminders step
-- applied them. What a pass cannot show (an invoice deleted in Zoho) is confirmed per invoice:
-- invoices_cache.reconciled_at is the last time Zoho showed the invoice (its unpaid list, a list page
-- or a read by id). A reminder counts as confirmed at the older of the two.

ALTER TABLE sync_metadata
    ADD COLUMN reminder_freshness_minutes integer NOT NULL DEFAULT 15
                                          CHECK (reminder_freshness_minutes BETWEEN 1 AND 1440),
    ADD COLUMN customer_pass_started_at   timestamptz,  -- start of the last customer run read to its end
    ADD COLUMN invoice_pass_started_at    timestamptz,  -- start of the last invoice run read to its end
    ADD COLUMN confirmed_at               timestamptz;  -- the older of the two, once the reminders step applied them

-- A reminder that could not be confirmed within its grace ends here, with why in cancel_reason.
ALTER TABLE reminders DROP CONSTRAINT reminders_status_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_status_check
    CHECK (status IN ('pending', 'sent', 'cancelled', 'failed', 'missed'));

-- Every pending reminder of an open invoice of a live customer, with what decides whether a sender may
-- have it now. The one place the hand-out rule is written.
CREATE VIEW reminder_states AS
SELECT r.id AS reminder_id,
       r.user_id,
       r.offset_days,
       r.scheduled_for AS send_at_utc,
       (r.scheduled_for AT TIME ZONE coalesce(c.timezone, 'UTC')) AS send_at_local,
       coalesce(c.timezone, 'UTC') AS timezone,
       r.attempts,
       i.zoho_invoice_id,
       i.invoice_number,
       i.balance,
       i.currency_code,
       i.due_date,
       c.zoho_customer_id,
       c.customer_name,
       coalesce(c.phone_override, c.primary_phone) AS phone,
       c.phone_override IS NOT NULL AS phone_is_override,
       c.phone_sms_enabled AS sms_enabled,
       c.phone_whatsapp_enabled AS whatsapp_enabled,
       r.next_attempt_at,
       r.claimed_until,
       c.reminder_ready AS ready,
       c.detail_hash IS NOT DISTINCT FROM c.sync_hash AS detail_current,
       z.status AS tenant_status,
       i.reconciled_at AS invoice_seen_at,
       -- least() skips nulls: never confirmed is null, not the other time
       CASE WHEN m.confirmed_at IS NULL OR i.reconciled_at IS NULL THEN NULL
            ELSE least(m.confirmed_at, i.reconciled_at) END AS confirmed_at,
       make_interval(mins => m.reminder_freshness_minutes) AS freshness,
       r.scheduled_for + make_interval(hours => m.reminder_grace_hours) AS give_up_at,
       -- when a sender would take it: its send time, or its retry after a failure
       greatest(r.scheduled_for, r.next_attempt_at) AS wanted_at,
       r.scheduled_for <= now()
           AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now())
           AND (r.claimed_until IS NULL OR r.claimed_until < now()) AS due_now,
       z.status = 'active'
           AND m.confirmed_at >= now() - make_interval(mins => m.reminder_freshness_minutes)
           AND i.reconciled_at >= now() - make_interval(mins => m.reminder_freshness_minutes) AS fresh
  FROM reminders AS r
  JOIN open_invoices AS i ON i.id = r.invoice_id
  JOIN customers_cache AS c ON c.id = i.customer_id
  JOIN sync_metadata AS m ON m.user_id = r.user_id
  JOIN zoho_connections AS z ON z.user_id = r.user_id
 WHERE r.status = 'pending'
   AND c.deleted_at IS NULL;

-- Reminders a sender will be given (0008's columns first, as before): pending, for an open invoice of a
-- reminder-ready customer. Upcoming ones too: whether one may go now is due_reminders' question.
CREATE OR REPLACE VIEW reminder_deliveries AS
SELECT reminder_id, user_id, offset_days, send_at_utc, send_at_local, timezone, attempts, zoho_invoice_id,
       invoice_number, balance, currency_code, due_date, zoho_customer_id, customer_name, phone,
       phone_is_override, sms_enabled, whatsapp_enabled, next_attempt_at, claimed_until,
       tenant_status, confirmed_at, due_now, coalesce(fresh, false) AS fresh
  FROM reminder_states
 WHERE ready;

-- What a sender may take now: its time come (or its retry due), not leased to another sender, its
-- tenant active, and its invoice and customer confirmed by Zoho within the tenant's freshness.
CREATE OR REPLACE VIEW due_reminders AS
SELECT *
  FROM reminder_deliveries
 WHERE due_now AND fresh;

-- Reminders whose time has come but which wait, and why: their tenant is not active, Zoho has not
-- confirmed their data recently, or their customer's detail is being read again. Past give_up_at
-- (the tenant's grace) they are marked missed with this reason; never sent on stale data.
CREATE VIEW reminder_waits AS
SELECT s.reminder_id, s.user_id, s.send_at_utc, s.zoho_invoice_id, s.invoice_number, s.zoho_customer_id,
       s.customer_name, s.confirmed_at, s.give_up_at,
       CASE WHEN s.tenant_status = 'disabled' THEN 'tenant disabled'
            WHEN s.tenant_status = 'needs_reauth' THEN 'tenant needs re-authorization in Zoho'
            WHEN NOT s.detail_current THEN 'customer''s details being read again from Zoho'
            WHEN last.status = 'failed' THEN 'the last sync failed (' || split_part(last.error, ':', 1) || ')'
            WHEN last.status = 'deferred' THEN 'Zoho''s daily calls are spent'
            WHEN s.confirmed_at IS NULL THEN 'never confirmed by Zoho'
            ELSE 'not confirmed by Zoho within ' || extract(epoch FROM s.freshness)::integer / 60 || ' minutes'
       END AS waiting_reason
  FROM reminder_states AS s
  LEFT JOIN LATERAL (
        SELECT sr.status, sr.error
          FROM step_runs AS sr
         WHERE sr.user_id = s.user_id AND sr.status IN ('ok', 'failed', 'deferred')
         ORDER BY sr.finished_at DESC NULLS LAST
         LIMIT 1) AS last ON true
 WHERE s.due_now
   AND (s.ready OR NOT s.detail_current)
   AND NOT (s.ready AND coalesce(s.fresh, false));

-- The sender sees the waiting ones too (what, since when, why; no phone).
CREATE VIEW reminder_sender.waiting_reminders WITH (security_barrier) AS
SELECT reminder_id, user_id, send_at_utc, zoho_invoice_id, invoice_number, zoho_customer_id, customer_name,
       confirmed_at, give_up_at, waiting_reason
  FROM public.reminder_waits;

-- The claim, in two statements. The first locks candidates as its snapshot shows them (SKIP LOCKED:
-- two senders never get the same one). The second is a new statement, so a new snapshot taken after
-- the locks: whatever committed on those rows before they were locked (another sender's failure and
-- its backoff, a move by the sync, a cancellation, a claim) is seen, and the whole rule of
-- due_reminders is checked again on the locked rows before any is handed out.
CREATE OR REPLACE FUNCTION reminder_sender.claim_due_reminders(p_user_id text, p_limit integer, p_lease interval)
RETURNS TABLE (
    reminder_id uuid, user_id text, offset_days integer, send_at_utc timestamptz,
    send_at_local timestamp, timezone text, attempts integer, zoho_invoice_id text,
    invoice_number text, balance numeric, currency_code text, due_date date, zoho_customer_id text,
    customer_name text, phone text, phone_is_override boolean, sms_enabled boolean,
    whatsapp_enabled boolean, claim_id uuid
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    locked uuid[];
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'claim_due_reminders: p_limit must be at least 1, got %', p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_lease IS NULL OR p_lease <= interval '0' THEN
        RAISE EXCEPTION 'claim_due_reminders: p_lease must be positive, got %', p_lease
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT coalesce(array_agg(picked.id), '{}') INTO locked
      FROM (SELECT r.id
              FROM public.reminders AS r
             WHERE r.id IN (SELECT d.reminder_id FROM public.due_reminders AS d
                             WHERE p_user_id IS NULL OR d.user_id = p_user_id)
             ORDER BY r.scheduled_for, r.id
             LIMIT p_limit
               FOR UPDATE OF r SKIP LOCKED) AS picked;
    RETURN QUERY
    WITH claimed AS (
        UPDATE public.reminders AS r
           SET claim_id = gen_random_uuid(), claimed_until = now() + p_lease, updated_at = now()
         WHERE r.id = ANY (locked)
           AND r.id IN (SELECT d.reminder_id FROM public.due_reminders AS d)
        RETURNING r.id, r.claim_id
    )
    -- this statement's snapshot (after the locks): each row as it was when it was claimed
    SELECT d.reminder_id, d.user_id, d.offset_days, d.send_at_utc, d.send_at_local, d.timezone, d.attempts,
           d.zoho_invoice_id, d.invoice_number, d.balance, d.currency_code, d.due_date, d.zoho_customer_id,
           d.customer_name, d.phone, d.phone_is_override, d.sms_enabled, d.whatsapp_enabled, c.claim_id
      FROM claimed AS c
      JOIN public.reminder_deliveries AS d ON d.reminder_id = c.id
     ORDER BY d.send_at_utc, d.reminder_id;
END
$$;

REVOKE ALL ON FUNCTION reminder_sender.claim_due_reminders(text, integer, interval) FROM PUBLIC;
