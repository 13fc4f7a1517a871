-- Database roles for the Zoho Books sync: one for migrations (DDL), one for syncing (DML), one for
-- the reminder sender (its views and its claim/complete functions, nothing else).
--
-- An operator's step, run by the owner of the database: on RDS the master user, which is not a
-- superuser (nothing here needs one). It can be run again: it creates what is missing, sets the
-- passwords it is given and grants again. Needs psql 15 or later.
--
--   ZOHO_MIGRATE_PASSWORD=... ZOHO_SYNC_PASSWORD=... ZOHO_SENDER_PASSWORD=... \
--       psql "$MASTER_URL" -f deploy/roles.sql
--
-- psql variables (-v name=value), all optional:
--   migrate_role, sync_role, sender_role              default zoho_migrate, zoho_sync, zoho_sender
--   migrate_password, sync_password, sender_password  default: from the environment variables
--       ZOHO_MIGRATE_PASSWORD, ZOHO_SYNC_PASSWORD, ZOHO_SENDER_PASSWORD (kept out of the process
--       list and shell history). A role created without a password cannot log in with one until
--       it is given one: run this again with it, or use psql's \password, which sends only a hash.
--       A password given here travels in an ALTER ROLE statement: keep log_statement below 'ddl'.
--
-- Order. A new database: run this, then the migrations as the migrate role. A database whose
-- migrations ran as the master user: run this; it hands the schemas and everything in them to the
-- migrate role, which runs the migrations from then on. (Run it again after any migration run as
-- another user: it hands over what that made and grants it.)
--
-- Role names are cluster-wide: two databases of one cluster need distinct names (-v *_role=...).

\set ON_ERROR_STOP on

\if :{?migrate_role}
\else
\set migrate_role zoho_migrate
\endif
\if :{?sync_role}
\else
\set sync_role zoho_sync
\endif
\if :{?sender_role}
\else
\set sender_role zoho_sender
\endif
\if :{?migrate_password}
\else
\getenv migrate_password ZOHO_MIGRATE_PASSWORD
\endif
\if :{?sync_password}
\else
\getenv sync_password ZOHO_SYNC_PASSWORD
\endif
\if :{?sender_password}
\else
\getenv sender_password ZOHO_SENDER_PASSWORD
\endif

BEGIN;
SET LOCAL client_min_messages = warning;  -- a run again is quiet ("already exists, skipping")

-- ------------------------------------------------------------------------------------- roles
-- CREATE ROLE has no IF NOT EXISTS: the statements are written for the roles that are missing.
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', wanted.role_name)
  FROM unnest(ARRAY[:'migrate_role', :'sync_role', :'sender_role']) AS wanted (role_name)
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.rolname = wanted.role_name)
\gexec

\if :{?migrate_password}
ALTER ROLE :"migrate_role" PASSWORD :'migrate_password';
\endif
\if :{?sync_password}
ALTER ROLE :"sync_role" PASSWORD :'sync_password';
\endif
\if :{?sender_password}
ALTER ROLE :"sender_role" PASSWORD :'sender_password';
\endif

SELECT format('GRANT CONNECT ON DATABASE %I TO %I, %I, %I',
              current_database(), :'migrate_role', :'sync_role', :'sender_role')
\gexec
-- The migrate role may create schemas (Postgres also asks it of a schema's new owner).
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'migrate_role')
\gexec

-- Whoever runs this acts as the migrate role below (hands it the objects, grants as their owner).
-- A superuser already may; RDS's master user is given the membership.
SELECT format('GRANT %I TO %I', :'migrate_role', current_user)
 WHERE NOT pg_catalog.pg_has_role(current_user, :'migrate_role', 'USAGE')
\gexec

-- Role defaults. The sync sends the same values as startup parameters (books_sync.db, purpose
-- "sync"); these are the backstop where startup parameters do not reach the session that runs
-- the statements (behind RDS Proxy the connections to the database are the proxy's, shared by
-- its clients), and they need no session SET, which would pin a proxy connection.
-- idle_session_timeout ends the connections that frozen or retired Lambda instances keep open;
-- the code checks a kept connection before reusing it and opens a new one. (Postgres advises
-- care with it behind a pooler: if the proxy's logs show its database connections closing badly,
-- RESET it for the role and let the proxy's IdleClientTimeout end idle clients instead.)
ALTER ROLE :"sync_role" SET timezone = 'UTC';
ALTER ROLE :"sync_role" SET statement_timeout = '120s';
ALTER ROLE :"sync_role" SET lock_timeout = '30s';
ALTER ROLE :"sync_role" SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE :"sync_role" SET idle_session_timeout = '15min';
-- The sender's statements are one claim or one completion each.
ALTER ROLE :"sender_role" SET timezone = 'UTC';
ALTER ROLE :"sender_role" SET statement_timeout = '30s';
ALTER ROLE :"sender_role" SET lock_timeout = '10s';
ALTER ROLE :"sender_role" SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE :"sender_role" SET idle_session_timeout = '15min';
-- `SELECT * FROM due_reminders` finds the sender's view.
ALTER ROLE :"sender_role" SET search_path = reminder_sender;
-- A data migration may run long and hold locks while it does: no statement or lock timeout.
ALTER ROLE :"migrate_role" SET timezone = 'UTC';

-- ------------------------------------------------------------------------------- ownership
-- The migrate role owns the schemas and what is in them. reminder_sender is made here when
-- missing so its default privileges can be set before migration 0011 fills it.
ALTER SCHEMA public OWNER TO :"migrate_role";
CREATE SCHEMA IF NOT EXISTS reminder_sender AUTHORIZATION :"migrate_role";
ALTER SCHEMA reminder_sender OWNER TO :"migrate_role";

-- Objects made by migrations run as another user (sequences owned by a column follow their
-- table; objects of an extension stay with it).
SELECT format('ALTER %s %s OWNER TO %I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                             WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
              c.oid::regclass, :'migrate_role')
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 'reminder_sender')
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND c.relowner <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'migrate_role')
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                      AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
\gexec

SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'migrate_role')
  FROM pg_catalog.pg_proc AS p
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('public', 'reminder_sender')
   AND p.proowner <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'migrate_role')
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS d
                    WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
\gexec

-- Enums, domains, ranges and standalone composite types (a table's row type follows the table).
SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, :'migrate_role')
  FROM pg_catalog.pg_type AS t
  JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
  LEFT JOIN pg_catalog.pg_class AS c ON c.oid = t.typrelid
 WHERE n.nspname IN ('public', 'reminder_sender')
   AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
   AND t.typowner <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'migrate_role')
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS d
                    WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
\gexec

-- ---------------------------------------------------------------------------------- grants
-- Made as the owner, for what exists now and (default privileges) for what later migrations make.
SET ROLE :"migrate_role";

-- Nobody else creates objects in public (Postgres 15 made this the default for new databases).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- A new function is nobody's to call until a grant says so (Postgres's default is everybody's).
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate_role" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- The sync: rows, never the schema (no CREATE, ALTER, DROP or TRUNCATE).
GRANT USAGE ON SCHEMA public TO :"sync_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"sync_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"sync_role";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO :"sync_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"sync_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate_role" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"sync_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate_role" IN SCHEMA public
    GRANT EXECUTE ON FUNCTIONS TO :"sync_role";

-- The sender (and the sync, for `zoho-sync reminders` with the sync's URL): the reminder_sender
-- schema only. Its functions are SECURITY DEFINER: they act on the tables as their owner.
GRANT USAGE ON SCHEMA reminder_sender TO :"sender_role", :"sync_role";
GRANT SELECT ON ALL TABLES IN SCHEMA reminder_sender TO :"sender_role", :"sync_role";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA reminder_sender TO :"sender_role", :"sync_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate_role" IN SCHEMA reminder_sender
    GRANT SELECT ON TABLES TO :"sender_role", :"sync_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrate_role" IN SCHEMA reminder_sender
    GRANT EXECUTE ON FUNCTIONS TO :"sender_role", :"sync_role";

RESET ROLE;
COMMIT;
