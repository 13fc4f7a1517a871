-- 0008: a new tenant's first reminders on day 1; reminders that follow Zoho's own settings; a
-- delivery contract for the sender.

-- `open_invoices` (0006) fixed its columns when it was made: it takes the columns added since.
CREATE OR REPLACE VIEW open_invoices AS
SELECT *
  FROM invoices_cache AS i
 WHERE i.deleted_at IS NULL
   AND i.balance > 0
   AND coalesce(i.status, '') NOT IN ('draft', 'void', 'paid');

-- Customers are stored from their list row first; the detail (all persons, the payment-reminder
-- setting, the persons' SMS/WhatsApp preferences) follows by urgency. `detail_hash` is the list
-- hash the stored detail was fetched for: the detail is current when it equals `sync_hash`.
ALTER TABLE customers_cache
    ADD COLUMN detail_hash              text,
    ADD COLUMN detail_fetched_at        timestamptz,
    ADD COLUMN payment_reminder_enabled boolean,
    ADD COLUMN phone_sms_enabled        boolean,
    ADD COLUMN phone_whatsapp_enabled   boolean;
-- Rows synced before this migration had their detail whenever they had a hash.
UPDATE customers_cache SET detail_hash = sync_hash, detail_fetched_at = local_last_synced_at WHERE sync_hash IS NOT NULL;

-- What makes a customer reminder-ready, written once: its detail is known and current (so its
-- payment-reminder setting is), it is not deleted, reminders are not turned off in Zoho, and it
-- has a phone to use (a manual override wins over the synced one).
ALTER TABLE customers_cache ADD COLUMN reminder_ready boolean GENERATED ALWAYS AS (
    detail_hash IS NOT NULL AND detail_hash = sync_hash
    AND deleted_at IS NULL
    AND payment_reminder_enabled IS NOT FALSE
    AND coalesce(phone_override, primary_phone) IS NOT NULL
) STORED;
CREATE INDEX customers_cache_detail_queue_idx ON customers_cache (user_id)
    WHERE deleted_at IS NULL AND detail_hash IS DISTINCT FROM sync_hash;

-- Per tenant: the reminder basis (Zoho offers the due date or the expected payment date), the
-- grace for a send time just missed, repeats while an invoice stays overdue, and the sender's attempts.
ALTER TABLE sync_metadata
    ADD COLUMN reminder_basis           text NOT NULL DEFAULT 'due_date'
                                        CHECK (reminder_basis IN ('due_date', 'expected_payment_date')),
    ADD COLUMN reminder_grace_hours     integer NOT NULL DEFAULT 12 CHECK (reminder_grace_hours >= 0),
    ADD COLUMN reminder_repeat_days     integer CHECK (reminder_repeat_days > 0),
    ADD COLUMN reminder_repeat_max      integer NOT NULL DEFAULT 0 CHECK (reminder_repeat_max BETWEEN 0 AND 27),
    ADD COLUMN reminder_max_attempts    integer NOT NULL DEFAULT 3 CHECK (reminder_max_attempts > 0),
    ADD COLUMN open_invoice_pages       integer;  -- pages of Zoho's unpaid list at the last reconcile

-- The sender's contract: claim under a lease, complete as sent or failed (retried with backoff).
ALTER TABLE reminders DROP CONSTRAINT reminders_status_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_status_check
    CHECK (status IN ('pending', 'sent', 'cancelled', 'failed'));
ALTER TABLE reminders
    ADD COLUMN claim_id        uuid,
    ADD COLUMN claimed_until   timestamptz,
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN last_error      text,
    ADD COLUMN sent_at         timestamptz;
CREATE INDEX reminders_due_idx ON reminders (scheduled_for) WHERE status = 'pending';

-- Readers of the old shape can tell deleted invoices apart.
CREATE OR REPLACE VIEW invoices_with_customer AS
SELECT i.id, i.user_id, i.zoho_invoice_id, i.invoice_number, c.zoho_customer_id, c.customer_name,
       coalesce(c.phone_override, c.primary_phone) AS customer_phone,
       c.country_code AS customer_country_code, c.timezone AS customer_timezone,
       i.status, i.invoice_date, i.due_date, i.total, i.balance, i.currency_code, i.zoho_last_modified_at,
       i.local_last_synced_at, i.created_at, i.updated_at, i.customer_id,
       i.deleted_at AS invoice_deleted_at, c.deleted_at AS customer_deleted_at
  FROM invoices_cache AS i
  JOIN customers_cache AS c ON c.id = i.customer_id;

-- Reminders a sender will be given: pending, for an open invoice of a reminder-ready customer,
-- with the phone to use (a manual override wins) and the person's SMS/WhatsApp preferences.
CREATE VIEW reminder_deliveries AS
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
       r.claimed_until
  FROM reminders AS r
  JOIN open_invoices AS i ON i.id = r.invoice_id
  JOIN customers_cache AS c ON c.id = i.customer_id
 WHERE r.status = 'pending'
   AND c.reminder_ready;

-- What a sender may take now: its time come (or its retry due), and not leased to another sender.
CREATE VIEW due_reminders AS
SELECT *
  FROM reminder_deliveries
 WHERE send_at_utc <= now()
   AND (next_attempt_at IS NULL OR next_attempt_at <= now())
   AND (claimed_until IS NULL OR claimed_until < now());
