-- 0016: a customer's time zone comes from where it is billed, its state included where the country
-- spans zones (a California business with an Oklahoma mobile is in Los Angeles, not Chicago).
--
-- The billing address's state, as Zoho's detail gives it (free text). Known with the detail: the
-- next detail read fills it (and the zone) for customers synced before.
ALTER TABLE customers_cache ADD COLUMN billing_region text;

-- Customers already synced in countries that span zones keep the zone their number gave until their
-- detail is read again: a week-old detail is read again before a reminder due within a day (the detail
-- queue's first rule), so make theirs look a week old. Nothing waits: their reminders stay ready.
UPDATE customers_cache
   SET detail_fetched_at = least(detail_fetched_at, now() - interval '8 days')
 WHERE country_code IN ('US', 'CA', 'AU', 'MX', 'BR') AND detail_fetched_at IS NOT NULL;
