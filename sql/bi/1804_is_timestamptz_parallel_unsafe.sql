-- analytics.is_timestamptz on PostgreSQL < 16 (found by benchmarks/bench_growth.py, issue 18): its PL/pgSQL
-- fallback catches the cast's error in an EXCEPTION block, which needs a subtransaction, and a query
-- running in parallel mode cannot start one, in a worker or in the leader ("cannot start subtransactions during a
-- parallel operation"; PARALLEL RESTRICTED, tried, fails the same way in the leader). Marked PARALLEL SAFE,
-- it let the planner choose parallel plans, so a one-session full rebuild of lead_attribution failed once
-- the table was large enough for one (1M leads on PostgreSQL 15). PARALLEL UNSAFE keeps every query that
-- calls it serial, as it was below that size. PostgreSQL 16+ has the SQL version (pg_input_is_valid),
-- which cannot raise and stays PARALLEL SAFE.
DO $$
BEGIN
    IF current_setting('server_version_num')::int < 160000 THEN
        ALTER FUNCTION analytics.is_timestamptz(text) PARALLEL UNSAFE;
    END IF;
END;
$$;
