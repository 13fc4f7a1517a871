-- 0002: one Zoho Books organization per tenant, its OAuth tokens, and a per-day call counter.

CREATE TABLE zoho_connections (
    user_id                    text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    organization_id            text NOT NULL,
    data_center                text NOT NULL DEFAULT 'com'
                               CHECK (data_center IN ('com', 'eu', 'in', 'com.au', 'jp', 'ca', 'com.cn', 'sa')),
    refresh_token              text NOT NULL,
    access_token               text,
    access_token_expires_at    timestamptz,
    status                     text NOT NULL DEFAULT 'active'
                               CHECK (status IN ('active', 'needs_reauth', 'disabled')),
    status_reason              text,
    daily_call_budget          integer NOT NULL DEFAULT 1000 CHECK (daily_call_budget > 0),
    organization_country_code  text,
    organization_timezone      text,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX zoho_connections_organization_idx ON zoho_connections (organization_id);

-- Zoho counts calls per organization per day; so do we, shared by every Lambda.
CREATE TABLE zoho_api_usage (
    organization_id  text NOT NULL,
    usage_date       date NOT NULL,
    calls            integer NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, usage_date)
);
