-- Each synced table's bookkeeping row (hyperdash status reads its watermarks and last run).
SELECT table_name, synced_at, to_jsonb(s) AS state
FROM public.sync_state AS s
ORDER BY table_name;
