-- 0019: `zoho-sync run` processes say they are alive (storage/leases.py). Each process has a random
-- instance id, in the holder of every lease it takes, and beats here every few seconds while it runs,
-- with where it runs: its PID namespace (the boot's id and the namespace's inode) and its PID. Another
-- run frees such a lease at once when it sees that process gone from its own PID namespace, else only
-- once the instance has been silent for a minute. (The previous judge, "hostname + is this PID alive
-- here", let two runs in separate PID namespaces under one hostname take one tenant at once.)
CREATE TABLE run_heartbeats (
    instance text PRIMARY KEY,
    beat_at timestamptz NOT NULL DEFAULT now(),
    pid_namespace text,
    pid integer
);
COMMENT ON TABLE run_heartbeats IS 'zoho-sync run processes alive: instance id (random), last beat, where';
