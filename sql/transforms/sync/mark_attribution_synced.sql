-- The delivery receipt, run in the CRM after the BI commit, one short batch per statement.
-- Every lead whose current updated_at is at or below the committed watermark is exactly the version
-- BI holds (any later write would stamp a later updated_at). FOR NO KEY UPDATE re-checks that on the
-- newest row version and locks it until this statement commits; SKIP LOCKED leaves rows being written
-- right now for a later run: a lead changed in between keeps attribution_synced = false, so no update is
-- lost (the lock does not conflict with the KEY SHARE locks of concurrent inserts referencing the lead).
-- The leads trigger does not bump updated_at for this flag-only update (sql/crm/0101): the caller runs it
-- in a transaction with SET LOCAL hyperdash.receipt = 'on'. No index references the flag (crm/0102), so
-- the update is HOT when the page has room.
-- Batches walk leads_updated_at_id_idx forward from the previous batch's newest stamp, starting at the
-- receipt watermark, so no batch rescans what earlier batches or runs already flagged.
WITH flagged AS (
    UPDATE leads
    SET attribution_synced = true
    WHERE id = ANY (ARRAY(
        SELECT id
        FROM leads
        WHERE updated_at >= %(from)s
          AND updated_at <= %(watermark)s
          AND NOT attribution_synced
        ORDER BY updated_at
        LIMIT %(batch_size)s
        FOR NO KEY UPDATE SKIP LOCKED
    ))
    RETURNING updated_at
)
SELECT count(*), max(updated_at) FROM flagged
