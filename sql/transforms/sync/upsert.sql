-- Apply the staged CRM rows to the mirror. A row whose content is unchanged is not rewritten, so
-- re-reading an overlap window (or a retried run) writes nothing. Counts inserted vs updated.
WITH upserted AS (
    INSERT INTO {target} AS t ({columns}, _synced_at)
    SELECT {columns}, now() FROM {stage}
    ON CONFLICT (id) DO UPDATE
        SET ({columns}, _synced_at) = ROW({excluded_columns}, now())
        WHERE ({target_columns}) IS DISTINCT FROM ({excluded_columns})
    RETURNING (t.xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
FROM upserted
