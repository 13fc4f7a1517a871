-- 0009: the last run of each step per tenant, written by every step (in Lambda or the CLI), so an
-- operator sees what happened without reading logs (`zoho-sync status`).
CREATE TABLE step_runs (
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    step          text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    status        text NOT NULL,  -- running, ok, skipped, deferred, failed
    has_more      boolean NOT NULL DEFAULT false,
    api_calls     integer NOT NULL DEFAULT 0,
    summary       jsonb,
    error         text,
    execution_id  text,
    last_ok_at    timestamptz,
    PRIMARY KEY (user_id, step)
);
