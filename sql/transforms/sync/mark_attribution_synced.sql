-- The delivery receipt, run in the CRM after the BI commit, one short batch per statement.
-- Every lead whose current updated_at is at or below the committed watermark is exactly the version
-- BI holds (any later write would stamp a later updated_at). FOR UPDATE re-checks that on the newest
-- row version and locks it until this statement commits; SKIP LOCKED leaves rows being written right
-- now for the next run: a lead changed in between keeps attribution_synced = false, so no update is
-- lost. The leads trigger does not bump updated_at for this flag-only update (sql/crm/0101): the
-- caller runs it in a transaction with SET LOCAL hyperdash.receipt = 'on'.
-- Batches walk the partial index leads_unsynced_idx forward from the previous batch's newest stamp,
-- so no batch rescans the index entries earlier batches left behind.
WITH flagged AS (
    UPDATE leads
    SET attribution_synced = true
    WHERE id = ANY (ARRAY(
        SELECT id
        FROM leads
        WHERE NOT attribution_synced
          AND updated_at >= %(from)s
          AND updated_at <= %(watermark)s
        ORDER BY updated_at
        LIMIT %(batch_size)s
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING updated_at
)
SELECT count(*), max(updated_at) FROM flagged
