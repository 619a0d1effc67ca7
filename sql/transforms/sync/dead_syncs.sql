-- Other backends of the sync with a transaction open on this CRM database. The caller holds the BI lock
-- that serialises syncs, so these belong to a sync process that ended without closing them (killed while a
-- statement ran): their transaction aborts when the backend notices, releasing its row locks.
SELECT pid
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND application_name = %(application_name)s
  AND xact_start IS NOT NULL
