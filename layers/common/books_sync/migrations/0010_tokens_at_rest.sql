-- 0010: Zoho tokens encrypted at rest (books_sync.token_cipher). refresh_token and access_token hold
-- `kms:v1:<base64>` or `local:v1:<key fingerprint>:<base64>`, never a token; token_key_id names the
-- key of both. The rows already here are encrypted right after this file, in the same transaction,
-- by its data step (m0010_tokens_at_rest.py), which then validates the constraint: from then on
-- Postgres itself refuses a plaintext token, whether from this code or an older version still running.
ALTER TABLE zoho_connections ADD COLUMN token_key_id text;

COMMENT ON COLUMN zoho_connections.refresh_token IS
    'encrypted: kms:v1:<base64 KMS blob> or local:v1:<key fingerprint>:<base64>';
COMMENT ON COLUMN zoho_connections.access_token IS 'encrypted like refresh_token, with the same key';
COMMENT ON COLUMN zoho_connections.token_key_id IS
    'the key of both tokens: a KMS key ARN, or local:<fingerprint> (ZOHO_SYNC_TOKEN_KEY or the key file)';

ALTER TABLE zoho_connections ADD CONSTRAINT zoho_connections_tokens_encrypted CHECK (
    refresh_token ~ '^(kms|local):v[0-9]+:'
    AND (access_token IS NULL OR access_token ~ '^(kms|local):v[0-9]+:')
    AND token_key_id IS NOT NULL
) NOT VALID;
