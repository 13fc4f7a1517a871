-- 0018: every stored token bound to its tenant, its column and its key (books_sync.token_cipher, v2):
-- local values sealed with AES-256-GCM, KMS refresh tokens encrypted with the context
-- {"tenant", "token": "refresh_token"}, KMS access tokens sealed under a data key (context
-- {"token": "access_token"}). The data step (m0018_tokens_bound_to_column.py), in this transaction,
-- reads each `v1` refresh token (the only code that still reads that form), seals it again as `v2`,
-- drops the access tokens (they live an hour: the next run asks for new ones), then validates the
-- constraint: from then on Postgres refuses a `v1` value, whoever writes it.
ALTER TABLE zoho_connections DROP CONSTRAINT zoho_connections_tokens_encrypted;
ALTER TABLE zoho_connections ADD CONSTRAINT zoho_connections_tokens_encrypted CHECK (
    refresh_token ~ '^(kms|local):v2:'
    AND (access_token IS NULL OR access_token ~ '^(kms|local):v2:')
    AND token_key_id IS NOT NULL
) NOT VALID;

COMMENT ON COLUMN zoho_connections.refresh_token IS
    'encrypted, bound to tenant and column: kms:v2:<base64 KMS blob> or local:v2:<key fingerprint>:<base64 AES-GCM>';
COMMENT ON COLUMN zoho_connections.access_token IS
    'encrypted like refresh_token, same key: kms:v2:<base64 encrypted data key>:<base64 AES-GCM> or local:v2:...';
