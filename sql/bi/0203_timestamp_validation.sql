-- analytics.is_timestamptz(text): does this text parse as a timestamptz? Used to quarantine bad
-- touchpoint timestamps instead of failing the whole rebuild on one of them.
-- PostgreSQL 16+ has pg_input_is_valid (no error raised, no subtransaction); on 15 an exception block
-- does the same, slower (one subtransaction per call), so 15 stays supported.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 160000 THEN
        CREATE FUNCTION analytics.is_timestamptz(value text) RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $f$ SELECT pg_input_is_valid(value, 'timestamptz') $f$;
    ELSE
        CREATE FUNCTION analytics.is_timestamptz(value text) RETURNS boolean
        LANGUAGE plpgsql STABLE PARALLEL SAFE
        AS $f$
        BEGIN
            PERFORM value::timestamptz;
            RETURN true;
        EXCEPTION WHEN others THEN
            RETURN false;
        END;
        $f$;
    END IF;
END;
$$;
