-- 0013: when Zoho's daily quota starts again, as its X-Rate-Limit-Reset header says.
--
-- A quota Zoho reported spent used to hold until our UTC day ended; an organization whose quota
-- resets earlier (or an app that left calls unused) waited for nothing. NULL: not reported, the
-- next UTC day's row starts afresh.
ALTER TABLE zoho_api_usage ADD COLUMN zoho_resets_at timestamptz;
