-- The report's period bucket of a day (hyperdash_pipeline/report/slices.py PERIODS): UTC days from `day` back
-- to the as-of day, 7 = 0..6 days, 30 = 7..29, 90 = 30..89, 0 = older or after the as-of day. "Last 30 days"
-- sums buckets 7 and 30; "all time" every bucket. Every filterable fact of the report is grouped by it.
CREATE FUNCTION analytics.report_bucket(as_of date, day date) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN as_of - day < 0 THEN 0 WHEN as_of - day < 7 THEN 7 WHEN as_of - day < 30 THEN 30
            WHEN as_of - day < 90 THEN 90 ELSE 0 END;
