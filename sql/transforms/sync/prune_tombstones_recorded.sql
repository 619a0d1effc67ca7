-- prune_tombstones.sql, and the CRM remembers how far each table was pruned (sync_tombstones_pruned): a BI
-- restored from a backup whose tombstones watermark lies below that point missed deletes and is re-copied.
WITH gone AS (
    DELETE FROM sync_tombstones
    WHERE table_name = %(table_name)s
      AND deleted_at < %(before)s
    RETURNING 1
), noted AS (
    INSERT INTO sync_tombstones_pruned AS p (table_name, pruned_before)
    SELECT %(table_name)s, %(before)s WHERE EXISTS (SELECT FROM gone)
    ON CONFLICT (table_name) DO UPDATE SET pruned_before = greatest(p.pruned_before, EXCLUDED.pruned_before)
)
SELECT count(*) FROM gone
