-- 0007: Zoho as its reference documents it, and no bad record or setting stops a tenant.

-- Every data center Zoho runs, the United Kingdom's included.
ALTER TABLE zoho_connections DROP CONSTRAINT zoho_connections_data_center_check;
ALTER TABLE zoho_connections ADD CONSTRAINT zoho_connections_data_center_check
    CHECK (data_center IN ('com', 'eu', 'in', 'com.au', 'jp', 'ca', 'com.cn', 'sa', 'uk'));

-- The API host the token answer names (`api_domain`), and when Zoho was last asked for the
-- organization's country and zone (an unknown answer is asked again after a day).
ALTER TABLE zoho_connections
    ADD COLUMN api_domain text,
    ADD COLUMN organization_profile_checked_at timestamptz;
UPDATE zoho_connections SET organization_profile_checked_at = updated_at
 WHERE organization_country_code IS NOT NULL OR organization_timezone IS NOT NULL;

-- A wrong client secret (`invalid_client`) is the operator's mistake, not the tenant's: tenants
-- it marked as needing re-authorization are active again.
UPDATE zoho_connections
   SET status = 'active', status_reason = NULL, updated_at = now()
 WHERE status = 'needs_reauth' AND status_reason LIKE '%invalid_client%';

-- Zoho's list rows carry the date the customer promised to pay.
ALTER TABLE invoices_cache ADD COLUMN payment_expected_date date;

-- Held-back invoices and failed contact details are retried with backoff, not every run.
ALTER TABLE invoice_sync_skips ADD COLUMN next_retry_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE customers_cache
    ADD COLUMN detail_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN detail_retry_at timestamptz;

-- What Zoho itself reports of the organization's daily quota (X-Rate-Limit-* headers), and one
-- shared pace per organization for every process calling Zoho for it.
ALTER TABLE zoho_api_usage
    ADD COLUMN zoho_limit integer,
    ADD COLUMN zoho_remaining integer,
    ADD COLUMN zoho_reported_at timestamptz;
CREATE TABLE zoho_pace (
    organization_id  text PRIMARY KEY,
    next_slot_at     timestamptz NOT NULL DEFAULT now()
);

-- Scans now walk passes over a filtered list (checkpoint format 2): runs in progress start their
-- pass again from the committed cursor, which re-reads nothing that was not already committed.
UPDATE sync_metadata SET customer_checkpoint = NULL, invoice_checkpoint = NULL;
