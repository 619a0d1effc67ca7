-- Tombstones of one table that BI applied more than the retention ago: no run reads them again (each run
-- reads from its tombstones watermark minus the overlap), and the retention still covers a BI restored from
-- a recent backup. An index range scan on (table_name, deleted_at).
DELETE FROM sync_tombstones
WHERE table_name = %(table_name)s
  AND deleted_at < %(before)s
