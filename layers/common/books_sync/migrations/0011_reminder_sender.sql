-- 0011: the reminder sender's interface in a schema of its own, so the sender's database role
-- needs no privilege on any table (deploy/roles.sql).
--
-- Everything in `reminder_sender` is the sender's: roles.sql grants the sender role SELECT on its
-- views and EXECUTE on its functions, for objects added here later too (default privileges).
-- Put nothing else in it.
--
-- The two functions are SECURITY DEFINER: they run as their owner (the schema owner), so a sender
-- claims and completes reminders without UPDATE on `reminders`. As Postgres's "Writing SECURITY
-- DEFINER Functions Safely" asks, each fixes its search_path with pg_temp last (a caller's
-- temporary table cannot stand in for ours), names its tables with their schema as well, and
-- loses PUBLIC's EXECUTE in the transaction that creates it. A function's SET applies during the
-- call only: it is not a session SET and does not pin an RDS Proxy connection.

-- roles.sql makes it first where the roles are used, so that its default privileges are in place.
CREATE SCHEMA IF NOT EXISTS reminder_sender;

-- What a sender sees (0008 says what is due): the columns of the contract, nothing internal.
-- security_barrier: a caller's own functions in a WHERE clause cannot see rows the view leaves out.
CREATE VIEW reminder_sender.reminder_deliveries WITH (security_barrier) AS
SELECT reminder_id, user_id, offset_days, send_at_utc, send_at_local, timezone, attempts, zoho_invoice_id,
       invoice_number, balance, currency_code, due_date, zoho_customer_id, customer_name, phone,
       phone_is_override, sms_enabled, whatsapp_enabled
  FROM public.reminder_deliveries;

CREATE VIEW reminder_sender.due_reminders WITH (security_barrier) AS
SELECT reminder_id, user_id, offset_days, send_at_utc, send_at_local, timezone, attempts, zoho_invoice_id,
       invoice_number, balance, currency_code, due_date, zoho_customer_id, customer_name, phone,
       phone_is_override, sms_enabled, whatsapp_enabled
  FROM public.due_reminders;

-- Take up to p_limit due reminders (one tenant, or any when p_user_id is null) for p_lease.
-- SKIP LOCKED: two senders never get the same one. The pending/lease test is repeated on the
-- locked row, so a claim committed after this statement began is seen.
CREATE FUNCTION reminder_sender.claim_due_reminders(p_user_id text, p_limit integer, p_lease interval)
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
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'claim_due_reminders: p_limit must be at least 1, got %', p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_lease IS NULL OR p_lease <= interval '0' THEN
        RAISE EXCEPTION 'claim_due_reminders: p_lease must be positive, got %', p_lease
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH picked AS (
        SELECT r.id
          FROM public.reminders AS r
         WHERE r.id IN (SELECT d.reminder_id FROM public.due_reminders AS d
                         WHERE p_user_id IS NULL OR d.user_id = p_user_id)
           AND r.status = 'pending' AND (r.claimed_until IS NULL OR r.claimed_until < now())
         ORDER BY r.scheduled_for, r.id
         LIMIT p_limit
           FOR UPDATE OF r SKIP LOCKED
    ), claimed AS (
        UPDATE public.reminders AS r
           SET claim_id = gen_random_uuid(), claimed_until = now() + p_lease, updated_at = now()
          FROM picked
         WHERE r.id = picked.id
        RETURNING r.id, r.claim_id
    )
    -- the statement's snapshot: each claimed row is a delivery as it was when it was picked
    SELECT d.reminder_id, d.user_id, d.offset_days, d.send_at_utc, d.send_at_local, d.timezone, d.attempts,
           d.zoho_invoice_id, d.invoice_number, d.balance, d.currency_code, d.due_date, d.zoho_customer_id,
           d.customer_name, d.phone, d.phone_is_override, d.sms_enabled, d.whatsapp_enabled, c.claim_id
      FROM claimed AS c
      JOIN public.reminder_deliveries AS d ON d.reminder_id = c.id
     ORDER BY d.send_at_utc, d.reminder_id;
END
$$;

-- Report a claimed reminder sent or failed. Answers 'sent'; 'retry' (failed, tried again after
-- 10 minutes doubling, at most 6 hours); 'failed' (the tenant's attempts are spent); 'cancelled'
-- (the sync cancelled it meanwhile: paid, void, deleted, opt-out, phone lost); or 'not claimed'
-- (the claim is not the current one: its lease ended and another sender may have it).
CREATE FUNCTION reminder_sender.complete_reminder(
    p_reminder_id uuid, p_claim_id uuid, p_outcome text, p_error text DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    new_status text;
BEGIN
    IF p_outcome IS NULL OR p_outcome NOT IN ('sent', 'failed') THEN
        RAISE EXCEPTION 'complete_reminder: p_outcome must be sent or failed, got %', p_outcome
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE public.reminders AS r
       SET status = CASE WHEN p_outcome = 'sent' THEN 'sent'
                         WHEN r.attempts + 1 >= m.reminder_max_attempts THEN 'failed'
                         ELSE 'pending' END,
           attempts = r.attempts + 1,
           sent_at = CASE WHEN p_outcome = 'sent' THEN now() END,
           last_error = left(nullif(p_error, ''), 500),
           next_attempt_at = CASE WHEN p_outcome = 'failed'
                                  THEN now() + least(interval '10 minutes' * power(2, r.attempts), interval '6 hours') END,
           claim_id = NULL,
           claimed_until = NULL,
           updated_at = now()
      FROM public.sync_metadata AS m
     WHERE r.id = p_reminder_id AND r.claim_id = p_claim_id AND r.status = 'pending'
       AND m.user_id = r.user_id
    RETURNING r.status INTO new_status;
    IF FOUND THEN
        RETURN CASE new_status WHEN 'pending' THEN 'retry' ELSE new_status END;
    END IF;
    -- a statement of its own: it sees a cancellation that committed while the update waited
    IF (SELECT r.status FROM public.reminders AS r WHERE r.id = p_reminder_id) = 'cancelled' THEN
        RETURN 'cancelled';
    END IF;
    RETURN 'not claimed';
END
$$;

REVOKE ALL ON FUNCTION reminder_sender.claim_due_reminders(text, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION reminder_sender.complete_reminder(uuid, uuid, text, text) FROM PUBLIC;

COMMENT ON SCHEMA reminder_sender IS
    'The reminder sender''s interface: due_reminders, reminder_deliveries, claim_due_reminders, complete_reminder.';
COMMENT ON FUNCTION reminder_sender.claim_due_reminders(text, integer, interval) IS
    'Claim up to p_limit due reminders (p_user_id null: any tenant) for p_lease; each row carries its claim_id. '
    'The reminder id is the idempotency key to give the SMS/WhatsApp provider.';
COMMENT ON FUNCTION reminder_sender.complete_reminder(uuid, uuid, text, text) IS
    'Report a claimed reminder sent or failed: answers sent, retry, failed, cancelled or not claimed.';
