-- The oldest lead at or below the watermark still without its receipt, wherever it is: what a full sync's
-- receipt re-checks (rows imported with old stamps behind the receipt watermark). One sequential scan; the
-- FILTER keeps the planner off the min(updated_at) index walk, which would visit every flagged lead's heap
-- row in index order to find none (6.1 s against 0.9 s on 1,000,000 flagged leads, measured).
SELECT min(updated_at) FILTER (WHERE NOT attribution_synced)
FROM leads
WHERE updated_at <= %(watermark)s
