-- 0019: `zoho-sync run` processes say they are alive (storage/leases.py). Each process has a random
-- instance id, in the holder of every lease it takes, and beats here every few seconds while it runs;
-- another run frees such a lease only once its instance has been silent for a minute. (The previous
-- judge, "hostname + is this PID alive here", let two runs in separate PID namespaces under one
-- hostname take one tenant at once.)
CREATE TABLE run_heartbeats (
    instance text PRIMARY KEY,
    beat_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE run_heartbeats IS 'zoho-sync run processes alive: instance id (random) and last beat';
