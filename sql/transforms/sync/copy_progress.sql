-- Rows the sync's COPY statements into BI have taken so far (PostgreSQL 14+ pg_stat_progress_copy),
-- one row per running COPY; the CLI polls this to print progress with an ETA.
SELECT p.relid::regclass::text AS target, p.tuples_processed
FROM pg_stat_progress_copy AS p
JOIN pg_stat_activity AS a USING (pid)
WHERE a.application_name = %(application_name)s AND p.command = 'COPY FROM'
