-- The planner's row estimates of CRM tables (cheap: no scan); -1 means never analysed.
SELECT c.relname, greatest(c.reltuples, 0)::bigint
FROM pg_class AS c
WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%(tables)s)
