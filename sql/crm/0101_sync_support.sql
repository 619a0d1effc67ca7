-- What the incremental CRM -> BI sync needs from the CRM (see docs/sync.md).
--
-- 1. sync_tombstones: a hard DELETE leaves no row to read, so an AFTER DELETE trigger records the
--    deleted id with clock_timestamp(); the sync reads tombstones by (table_name, deleted_at) exactly
--    as it reads rows by updated_at, under the same upper bound.
-- 2. leads.attribution_synced means "BI holds this lead's current version": any other change resets
--    it to false, and the leads trigger no longer bumps updated_at when an UPDATE changes nothing but
--    attribution_synced: the sync sets that flag after the BI commit, and a bumped updated_at would
--    make every synced lead look changed again. 0001 is history; the leads trigger is replaced here.
--    The sync's own receipt statements run with `SET LOCAL hyperdash.receipt = 'on'`, which the
--    trigger's WHEN clause reads to skip the function call entirely (the receipt of a million leads
--    would otherwise pay a jsonb comparison per row); they change nothing but the flag.

CREATE TABLE sync_tombstones (
    table_name text        NOT NULL,
    id         uuid        NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX sync_tombstones_table_deleted_at_idx ON sync_tombstones (table_name, deleted_at);

CREATE FUNCTION hyperdash_record_tombstone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_tombstones (table_name, id, deleted_at) VALUES (TG_TABLE_NAME, OLD.id, clock_timestamp());
    RETURN NULL;
END;
$$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'leads', 'deals', 'tasks', 'notes', 'activities'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER DELETE ON %I FOR EACH ROW EXECUTE FUNCTION hyperdash_record_tombstone()',
            t || '_record_tombstone', t);
    END LOOP;
END;
$$;

-- jsonb is only built when the flag actually changed, so ordinary writes pay nothing extra.
CREATE FUNCTION hyperdash_leads_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.attribution_synced IS DISTINCT FROM OLD.attribution_synced
       AND (to_jsonb(NEW) - 'attribution_synced' - 'updated_at')
           = (to_jsonb(OLD) - 'attribution_synced' - 'updated_at') THEN
        NEW.updated_at := OLD.updated_at;
    ELSE
        -- A new version: BI does not hold it yet, whatever the writer put in the flag.
        NEW.updated_at := clock_timestamp();
        NEW.attribution_synced := false;
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER leads_touch_updated_at ON leads;
CREATE TRIGGER leads_touch_updated_at BEFORE UPDATE ON leads
    FOR EACH ROW
    WHEN (current_setting('hyperdash.receipt', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION hyperdash_leads_touch_updated_at();
