-- After the receipt's batches: the oldest lead in the receipt's range still without its receipt (a row
-- SKIP LOCKED passed over because a writer held it). The next receipt starts there, so a writer that
-- rolled back does not leave its lead unflagged for ever.
SELECT min(updated_at)
FROM leads
WHERE updated_at >= %(from)s
  AND updated_at <= %(watermark)s
  AND NOT attribution_synced
