-- migrate: outside a transaction
-- 0022: walks through a tenant's rows in key order read each row once: a range of one index.
--
-- The reminders step plans 5,000 open invoices at a time, each chunk after the last one's id. With
-- only the per-tenant partial index, every chunk read all of the tenant's open invoices and sorted
-- them (measured: 600,000 rows read for a chunk at 300,000 open invoices); on a database whose
-- statistics know the tenant, the plan walked the primary key instead, every tenant's rows. This
-- index gives the chunk as a range. It replaces the per-tenant one, whose lookups its prefix serves.
--
-- Built CONCURRENTLY, a statement at a time: these are a fleet's two largest tables, and a plain
-- CREATE INDEX holds their writes (every tenant's sync) until it ends. A file that failed runs again
-- whole: an index built already is kept, a failed build is dropped and built again (the migrator).
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_cache_user_open_id_idx ON invoices_cache (user_id, id)
    WHERE balance > 0 AND deleted_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS invoices_cache_user_open_idx;

-- The same for the customer reconcile's walk through the customers Zoho did not list (by Zoho id,
-- each batch after the last one's): the per-tenant partial index made every batch read and sort all
-- of the tenant's customers (20 million rows for 200 batches at 100,000 customers).
CREATE INDEX CONCURRENTLY IF NOT EXISTS customers_cache_user_live_zoho_id_idx
    ON customers_cache (user_id, zoho_customer_id)
    WHERE deleted_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS customers_cache_user_idx;
