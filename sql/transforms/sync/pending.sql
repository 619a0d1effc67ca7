-- Is there anything to move for one table in (watermark, upper bound)? Two index probes; when both
-- are false the run skips the table without touching BI.
SELECT EXISTS (SELECT FROM {table} WHERE updated_at > %(rows_from)s AND updated_at < %(upper)s)
    OR EXISTS (SELECT FROM sync_tombstones
               WHERE table_name = %(table_name)s AND deleted_at > %(tombstones_from)s AND deleted_at < %(upper)s)
