-- 0020: what the reminder sender's role needs to work alone (`zoho-sync reminders` as zoho_sender).
--
-- reminder_sender.schema_version: the schema's migration, so a sender's client can check it is current
-- without reading public.schema_migrations. reminder_sender.tenant_ids: which tenants exist, so naming an
-- unknown one is an error, not an empty answer. Both are views owned by the schema's owner.
--
-- A completion repeated after a lost answer (the same claim, the same outcome) answers what was
-- recorded the first time (`sent`, `retry`, `failed`) instead of `not claimed`: reminders.completed_claim_id
-- remembers the claim a completion ended.
CREATE VIEW reminder_sender.schema_version AS
SELECT max(version) AS version FROM public.schema_migrations;

CREATE VIEW reminder_sender.tenant_ids AS
SELECT id AS user_id FROM public.users;

ALTER TABLE reminders ADD COLUMN completed_claim_id uuid;

CREATE OR REPLACE FUNCTION reminder_sender.complete_reminder(
    p_reminder_id uuid, p_claim_id uuid, p_outcome text, p_error text DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    new_status text;
    recorded RECORD;
BEGIN
    IF p_outcome IS NULL OR p_outcome NOT IN ('sent', 'failed') THEN
        RAISE EXCEPTION 'complete_reminder: p_outcome must be sent or failed, got %', p_outcome
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE public.reminders AS r
       SET status = CASE WHEN p_outcome = 'sent' THEN 'sent'
                         WHEN r.attempts + 1 >= m.reminder_max_attempts THEN 'failed'
                         ELSE 'pending' END,
           attempts = r.attempts + 1,
           sent_at = CASE WHEN p_outcome = 'sent' THEN now() END,
           last_error = left(nullif(p_error, ''), 500),
           next_attempt_at = CASE WHEN p_outcome = 'failed'
                                  THEN now() + least(interval '10 minutes' * power(2, r.attempts), interval '6 hours') END,
           claim_id = NULL,
           claimed_until = NULL,
           completed_claim_id = p_claim_id,
           updated_at = now()
      FROM public.sync_metadata AS m
     WHERE r.id = p_reminder_id AND r.claim_id = p_claim_id AND r.status = 'pending'
       AND m.user_id = r.user_id
    RETURNING r.status INTO new_status;
    IF FOUND THEN
        RETURN CASE new_status WHEN 'pending' THEN 'retry' ELSE new_status END;
    END IF;
    -- statements of their own: they see a cancellation, or the first completion, committed meanwhile
    SELECT r.status, r.completed_claim_id, r.sent_at INTO recorded FROM public.reminders AS r WHERE r.id = p_reminder_id;
    IF recorded.status = 'cancelled' THEN
        RETURN 'cancelled';
    END IF;
    IF recorded.completed_claim_id = p_claim_id THEN  -- this claim was completed already: what it recorded
        RETURN CASE WHEN recorded.status = 'pending' THEN 'retry' ELSE recorded.status END;
    END IF;
    RETURN 'not claimed';
END
$$;

COMMENT ON VIEW reminder_sender.schema_version IS 'The schema''s migration, for a sender''s client to check.';
COMMENT ON VIEW reminder_sender.tenant_ids IS 'The tenants that exist (ids only).';
COMMENT ON COLUMN reminders.completed_claim_id IS 'The claim the last completion ended (a repeated completion answers it).';
COMMENT ON FUNCTION reminder_sender.complete_reminder(uuid, uuid, text, text) IS
    'Report a claimed reminder sent or failed: answers sent, retry, failed, cancelled or not claimed; the same '
    'completion repeated (a lost answer) answers what was recorded.';
