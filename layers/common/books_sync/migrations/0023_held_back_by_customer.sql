-- 0023: invoices held back for a customer, found by that customer.
--
-- Each page of invoices asks which of its missing customers already have an invoice held back whose
-- retry is not due (`invoice_skips.waiting_customers`). With the primary key alone, every page read
-- all of the tenant's held-back invoices (10,000 rows a page for 10,000 held back). The customer comes
-- first: an index that starts with `user_id` would also serve the tenant alone, and on stale statistics
-- the planner took it for the deletion of a page's linked invoices by primary key (reading all of the
-- tenant's again). The table is small on a healthy tenant: the index builds in moments.
CREATE INDEX invoice_sync_skips_customer_idx ON invoice_sync_skips (zoho_customer_id, user_id);
