-- 0006: what "an open invoice" means, written once: money owed on a sent invoice that Zoho still has.
-- Readers (the reminders step, the open-invoice reconcile) select from this view instead of
-- repeating the rule; Postgres inlines it, so the partial index on open invoices still applies.
CREATE VIEW open_invoices AS
SELECT *
  FROM invoices_cache AS i
 WHERE i.deleted_at IS NULL
   AND i.balance > 0
   AND coalesce(i.status, '') NOT IN ('draft', 'void', 'paid');
