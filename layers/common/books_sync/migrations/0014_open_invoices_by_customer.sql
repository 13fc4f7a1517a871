-- 0014: a customer's open invoices by index, for the detail queue.
--
-- The queue looks up each customer's open invoices. With only the per-tenant partial index and the
-- plain customer index, a plan on stale statistics (a new tenant's first sync) combined both and
-- read every open invoice of the tenant once per customer.
CREATE INDEX invoices_cache_customer_open_idx ON invoices_cache (customer_id)
    WHERE balance > 0 AND deleted_at IS NULL;
