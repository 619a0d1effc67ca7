-- The sensor's cheap poll of one CRM table: newest stamp, plus how many rows and tombstones lie
-- beyond BI's watermarks (index range scans over the not-yet-synced tail only). A late commit with
-- an old updated_at changes the pending count even when the newest stamp does not move.
-- The age (seconds, on the CRM's clock) of the oldest change not yet in BI is what `hyperdash status`
-- calls the lag: NULL when nothing waits (one more probe at each end of the same index ranges).
SELECT (SELECT max(updated_at) FROM {table}) AS newest,
       (SELECT count(*) FROM {table} WHERE updated_at > %(rows_watermark)s) AS pending_rows,
       (SELECT count(*) FROM sync_tombstones
         WHERE table_name = %(table_name)s AND deleted_at > %(tombstones_watermark)s) AS pending_deletes,
       greatest(
           (SELECT extract(epoch FROM clock_timestamp() - min(updated_at))
              FROM {table} WHERE updated_at > %(rows_watermark)s),
           (SELECT extract(epoch FROM clock_timestamp() - min(deleted_at))
              FROM sync_tombstones WHERE table_name = %(table_name)s AND deleted_at > %(tombstones_watermark)s)
       )::float8 AS oldest_pending_seconds
