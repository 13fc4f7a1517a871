-- 0004: what the three sync steps need to be incremental, resumable and lossless.

ALTER TABLE sync_metadata
    ADD COLUMN last_customer_sync_at       timestamptz,
    ADD COLUMN customer_sync_window_days   integer NOT NULL DEFAULT 365 CHECK (customer_sync_window_days > 0),
    -- highest Zoho last_modified_time committed, and the position of a run in progress
    ADD COLUMN customer_cursor             timestamptz,
    ADD COLUMN customer_checkpoint         jsonb,
    ADD COLUMN last_customer_reconcile_at  timestamptz,
    ADD COLUMN invoice_cursor              timestamptz,
    ADD COLUMN invoice_checkpoint          jsonb,
    ADD COLUMN last_invoice_reconcile_at   timestamptz,
    ADD COLUMN last_reminders_run_at       timestamptz,
    ADD COLUMN reminder_offsets_days       integer[] NOT NULL DEFAULT '{-3,0,7}',
    ADD COLUMN reminder_local_hour         integer NOT NULL DEFAULT 9
                                           CHECK (reminder_local_hour BETWEEN 0 AND 23);

-- Invoices whose customer could not be found, kept (with the Zoho row) until they link.
CREATE TABLE invoice_sync_skips (
    user_id           text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    zoho_invoice_id   text NOT NULL,
    zoho_customer_id  text,
    reason            text NOT NULL,
    invoice           jsonb NOT NULL,
    attempts          integer NOT NULL DEFAULT 1,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, zoho_invoice_id)
);

-- Invoices deleted in Zoho are kept, marked, and stop being open.
ALTER TABLE invoices_cache ADD COLUMN deleted_at timestamptz;
CREATE INDEX invoices_cache_user_open_idx ON invoices_cache (user_id) WHERE balance > 0 AND deleted_at IS NULL;

ALTER TABLE reminders ADD COLUMN cancel_reason text;
CREATE INDEX reminders_user_status_idx ON reminders (user_id, status);

-- When a deletion reconcile last saw the customer in Zoho's list.
ALTER TABLE customers_cache ADD COLUMN reconciled_at timestamptz;
CREATE INDEX customers_cache_user_idx ON customers_cache (user_id) WHERE deleted_at IS NULL;
