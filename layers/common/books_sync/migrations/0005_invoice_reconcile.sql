-- 0005: when the open-invoice reconcile last saw an invoice among Zoho's unpaid invoices.
ALTER TABLE invoices_cache ADD COLUMN reconciled_at timestamptz;
