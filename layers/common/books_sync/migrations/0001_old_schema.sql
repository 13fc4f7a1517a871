-- 0001: the schema as it was before customers got their own table.
-- Customer name, phone, country code and timezone are copied onto every invoice row.

CREATE TABLE users (
    id          text PRIMARY KEY,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sync_metadata (
    user_id                   text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_invoice_sync_at      timestamptz,
    invoice_sync_window_days  integer NOT NULL DEFAULT 365 CHECK (invoice_sync_window_days > 0),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invoices_cache (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    zoho_invoice_id        text NOT NULL,
    invoice_number         text,
    zoho_customer_id       text,
    customer_name          text,
    customer_phone         text,
    customer_country_code  text,
    customer_timezone      text,
    status                 text,
    invoice_date           date,
    due_date               date,
    total                  numeric,
    balance                numeric,
    currency_code          text,
    zoho_last_modified_at  timestamptz,
    local_last_synced_at   timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, zoho_invoice_id)
);

CREATE TABLE reminders (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invoice_id     uuid NOT NULL REFERENCES invoices_cache (id),
    offset_days    integer NOT NULL,
    scheduled_for  timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'cancelled')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (invoice_id, offset_days)
);
