-- 0012: who is working on a tenant now, as a row instead of a session-level advisory lock.
--
-- A session lock is held by one database session across many commits, which pins an RDS Proxy
-- connection for the whole step and dies with the session. A lease is a row with an expiry: an
-- execution of the state machine (or one `zoho-sync run`) takes it with the tenant's first step,
-- renews it with each step and gives it back after the last one; if the execution dies, the lease
-- expires on its own. A second execution started while the first still works on a tenant sees the
-- lease, skips that tenant and says so.
CREATE TABLE tenant_leases (
    user_id      text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    holder       text NOT NULL,         -- the execution id, or one invocation's own id
    step         text NOT NULL,         -- the step that last renewed it
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX tenant_leases_expires_at ON tenant_leases (expires_at);

-- An execution's summary reads its tenants' step runs by execution id.
CREATE INDEX step_runs_execution_id ON step_runs (execution_id);
