-- The sync's exclusive upper bound on updated_at (and on sync_tombstones.deleted_at), read BEFORE the
-- sync's REPEATABLE READ snapshot is taken.
--
-- Every CRM write stamps clock_timestamp() at write time. A transaction still open now can only hold
-- uncommitted rows stamped at or after: its xact_start if it has already written (has an xid), or the
-- start of its running statement if it is active without an xid yet (its trigger may be stamping a row
-- right now). Transactions that start later stamp later than now. So every row stamped below this
-- bound is already committed, hence visible to a snapshot taken afterwards, and no row below it can
-- ever appear later: reading "watermark < updated_at < upper_bound" misses nothing and repeats nothing.
WITH holders AS (
    SELECT pid,
           application_name,
           xact_start,
           CASE WHEN backend_xid IS NOT NULL THEN xact_start ELSE query_start END AS bound
    FROM pg_stat_activity
    WHERE datname = current_database()
      AND pid <> pg_backend_pid()
      AND backend_type = 'client backend'
      AND xact_start IS NOT NULL
      AND (backend_xid IS NOT NULL OR state = 'active')
),
clock AS (SELECT clock_timestamp() AS crm_now)
SELECT clock.crm_now,
       least(clock.crm_now, oldest.bound) AS upper_bound,
       oldest.pid,
       oldest.application_name,
       oldest.xact_start
FROM clock
LEFT JOIN LATERAL (SELECT * FROM holders ORDER BY bound LIMIT 1) AS oldest ON true
