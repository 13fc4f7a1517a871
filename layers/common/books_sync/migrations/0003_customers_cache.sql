-- 0003: customers move out of invoices_cache into customers_cache.
--
-- One customer per (user, Zoho customer id) is created from the existing invoice rows, the
-- newest invoice's name/phone/country/timezone winning; every invoice is linked to it; only
-- then are the copied columns dropped. Phones are kept exactly as they were: the next customer
-- sync finds no sync_hash on these rows, fetches each contact once and normalizes them.
--
-- The whole file runs in one transaction: if any invoice cannot be linked, it stops before
-- changing anything and says how many invoices and which.

DO $$
DECLARE
    unlinkable integer;
    examples   text;
BEGIN
    SELECT count(*),
           string_agg(format('%s/%s', user_id, zoho_invoice_id), ', ' ORDER BY user_id, zoho_invoice_id)
               FILTER (WHERE position <= 20)
      INTO unlinkable, examples
      FROM (SELECT user_id, zoho_invoice_id,
                   row_number() OVER (ORDER BY user_id, zoho_invoice_id) AS position
              FROM invoices_cache
             WHERE coalesce(btrim(zoho_customer_id), '') = '') AS missing;
    IF unlinkable > 0 THEN
        RAISE EXCEPTION 'cannot link % invoice(s) to a customer: they have no zoho_customer_id (user/invoice: %). Nothing was changed; fix or remove those rows and run migrate again.',
            unlinkable, examples || CASE WHEN unlinkable > 20 THEN ', ...' ELSE '' END;
    END IF;
END
$$;

CREATE TABLE customers_cache (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    zoho_customer_id       text NOT NULL,
    customer_name          text,
    primary_phone          text,
    primary_email          text,
    contact_persons        jsonb NOT NULL DEFAULT '[]'::jsonb,
    country_code           text,
    timezone               text,
    phone_override         text,
    zoho_last_modified_at  timestamptz,
    local_last_synced_at   timestamptz,
    sync_hash              text,
    deleted_at             timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, zoho_customer_id)
);

INSERT INTO customers_cache (user_id, zoho_customer_id, customer_name, primary_phone, country_code, timezone)
SELECT DISTINCT ON (user_id, zoho_customer_id)
       user_id, zoho_customer_id, customer_name, customer_phone, customer_country_code, customer_timezone
  FROM invoices_cache
 ORDER BY user_id, zoho_customer_id,
          zoho_last_modified_at DESC NULLS LAST, invoice_date DESC NULLS LAST, updated_at DESC, id;

ALTER TABLE invoices_cache ADD COLUMN customer_id uuid;

UPDATE invoices_cache AS i
   SET customer_id = c.id
  FROM customers_cache AS c
 WHERE c.user_id = i.user_id
   AND c.zoho_customer_id = i.zoho_customer_id;

ALTER TABLE invoices_cache
    ALTER COLUMN customer_id SET NOT NULL,
    ADD CONSTRAINT invoices_cache_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers_cache (id);

CREATE INDEX invoices_cache_customer_id_idx ON invoices_cache (customer_id);

ALTER TABLE invoices_cache
    DROP COLUMN zoho_customer_id,
    DROP COLUMN customer_name,
    DROP COLUMN customer_phone,
    DROP COLUMN customer_country_code,
    DROP COLUMN customer_timezone;

-- The old shape, for readers that still expect customer fields on the invoice. The phone is
-- the effective one: a manual override wins over the synced number.
CREATE VIEW invoices_with_customer AS
SELECT i.id,
       i.user_id,
       i.zoho_invoice_id,
       i.invoice_number,
       c.zoho_customer_id,
       c.customer_name,
       coalesce(c.phone_override, c.primary_phone) AS customer_phone,
       c.country_code AS customer_country_code,
       c.timezone AS customer_timezone,
       i.status,
       i.invoice_date,
       i.due_date,
       i.total,
       i.balance,
       i.currency_code,
       i.zoho_last_modified_at,
       i.local_last_synced_at,
       i.created_at,
       i.updated_at,
       i.customer_id
  FROM invoices_cache AS i
  JOIN customers_cache AS c ON c.id = i.customer_id;
