-- 0021: Zoho's webhooks. A tenant's webhook secret is ours to compare (we make it, the operator pastes it
-- into Zoho's webhook form as a header), so only its SHA-256 is kept: a random 256-bit secret needs no
-- slow hash. After a rotation the previous one is accepted until previous_valid_until.
CREATE TABLE webhook_secrets (
    user_id text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
    previous_sha256 bytea CHECK (length(previous_sha256) = 32),
    previous_valid_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_received_at timestamptz,  -- the last request the receiver accepted
    last_applied_at timestamptz    -- the last record a webhook brought in
);
COMMENT ON TABLE webhook_secrets IS 'per tenant: the hash of its webhook secret (and the previous one, for a while)';

-- What webhooks said changed, one row per record however many webhooks named it (coalesced). The receiver
-- writes it; a record is to be read when a webhook received after its last read named it
-- (last_received_at > read_at), and the receiver queues a message only when a record becomes to be read
-- (or its last message is 5 minutes old: a message lost or dead-lettered), so a burst of webhooks costs one
-- message and one read. The worker reads the record from Zoho by id, applies it and sets read_at to when
-- that read began. A failure waits (1 minute, doubling, at most an hour); after 8 attempts the row is dead
-- (dead_at): `zoho-sync status` counts it, and the hourly run brings the change anyway. Rows read a week
-- ago are deleted.
CREATE TABLE webhook_inbox (
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('invoice', 'contact', 'payment')),
    zoho_id text NOT NULL CHECK (length(zoho_id) BETWEEN 1 AND 64),
    first_received_at timestamptz NOT NULL,
    last_received_at timestamptz NOT NULL,
    received integer NOT NULL DEFAULT 1,   -- webhooks that named it
    queued_at timestamptz,                 -- the last message queued for it
    read_at timestamptz,                   -- the start of its last read from Zoho
    reads integer NOT NULL DEFAULT 0,      -- reads it cost
    attempts integer NOT NULL DEFAULT 0,   -- failed reads since the last good one
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    dead_at timestamptz,
    PRIMARY KEY (user_id, kind, zoho_id)
);
CREATE INDEX webhook_inbox_to_read_idx ON webhook_inbox (user_id, next_attempt_at)
    WHERE dead_at IS NULL AND (read_at IS NULL OR last_received_at > read_at);
COMMENT ON TABLE webhook_inbox IS 'records webhooks named, to read from Zoho by id (coalesced per record)';

-- Webhooks may make the hourly run of a quiet tenant rarer (off by default): with poll_hours_with_webhooks
-- set, a scheduled execution leaves a quiet tenant out while webhooks reached it and a run confirmed its
-- data within that many hours. The freshen still confirms it before each reminder leaves.
ALTER TABLE sync_metadata
    ADD COLUMN poll_hours_with_webhooks integer CHECK (poll_hours_with_webhooks BETWEEN 2 AND 24);

-- The reminders step plans every open invoice again only when something it plans from changed (issue 28: a
-- 100,000-customer tenant's quiet run spent 9.6 s re-planning 300,000 unchanged invoices). Triggers stamp
-- plan_inputs_xid with the writing transaction's id whenever a planning input changes, whatever writes it
-- (the sync, a webhook, an operator's UPDATE of phone_override); reminders_planned_xmin is the oldest
-- transaction still running when the step last planned everything: a row stamped by it or a later one may
-- not have been seen, any older one was. reminders_planned_policy is the settings it planned with. Rows
-- stamped before this migration are NULL, and so is every tenant's plan: the first run plans all.
ALTER TABLE invoices_cache ADD COLUMN plan_inputs_xid xid8;
ALTER TABLE invoices_cache ALTER COLUMN plan_inputs_xid SET DEFAULT pg_current_xact_id();
ALTER TABLE customers_cache ADD COLUMN plan_inputs_xid xid8;
ALTER TABLE customers_cache ALTER COLUMN plan_inputs_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX invoices_cache_plan_inputs_idx ON invoices_cache (user_id, plan_inputs_xid);
CREATE INDEX customers_cache_plan_inputs_idx ON customers_cache (user_id, plan_inputs_xid);

CREATE FUNCTION stamp_plan_inputs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.plan_inputs_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;

CREATE TRIGGER invoices_cache_plan_inputs BEFORE UPDATE ON invoices_cache FOR EACH ROW
    WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at OR OLD.balance IS DISTINCT FROM NEW.balance
          OR OLD.status IS DISTINCT FROM NEW.status OR OLD.due_date IS DISTINCT FROM NEW.due_date
          OR OLD.payment_expected_date IS DISTINCT FROM NEW.payment_expected_date
          OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION stamp_plan_inputs_changed();

CREATE TRIGGER customers_cache_plan_inputs BEFORE UPDATE ON customers_cache FOR EACH ROW
    WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at OR OLD.detail_hash IS DISTINCT FROM NEW.detail_hash
          OR OLD.sync_hash IS DISTINCT FROM NEW.sync_hash
          OR OLD.payment_reminder_enabled IS DISTINCT FROM NEW.payment_reminder_enabled
          OR OLD.phone_override IS DISTINCT FROM NEW.phone_override
          OR OLD.primary_phone IS DISTINCT FROM NEW.primary_phone OR OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION stamp_plan_inputs_changed();

ALTER TABLE sync_metadata
    ADD COLUMN reminders_planned_at timestamptz,
    ADD COLUMN reminders_planned_xmin xid8,
    ADD COLUMN reminders_planned_policy text;
