-- Adopt an EXISTING CRM (the seed's "Migração Futura"): make its six tables carry what sql/crm/0001 gives
-- a new CRM, so that yoyo can record 0001 as applied and every later sql/crm migration applies to it as to
-- any other CRM (one migration history, not two tracks). Run by `hyperdash migrate --existing-crm` in one
-- transaction, before the sql/crm migrations, only while 0001 is not recorded yet.
--
-- Every statement is additive and idempotent, and no row is rewritten: columns are added nullable or with
-- a constant default (metadata-only since PostgreSQL 11). The CRM's own columns, types and keys are left
-- as they are: the BI mirror follows them (docs/sync.md "An existing CRM"). The index builds take a SHARE
-- lock on their table while they run (writes wait).

CREATE OR REPLACE FUNCTION hyperdash_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

-- The attribution inputs (docs/contracts.md, leads) a CRM usually lacks, and the sync receipt flag.
ALTER TABLE leads
    ADD COLUMN IF NOT EXISTS campaign_id        text,
    ADD COLUMN IF NOT EXISTS ad_id              text,
    ADD COLUMN IF NOT EXISTS ad_set_id          text,
    ADD COLUMN IF NOT EXISTS utm_source         text,
    ADD COLUMN IF NOT EXISTS utm_medium         text,
    ADD COLUMN IF NOT EXISTS utm_campaign       text,
    ADD COLUMN IF NOT EXISTS utm_content        text,
    ADD COLUMN IF NOT EXISTS utm_term           text,
    ADD COLUMN IF NOT EXISTS gclid              text,
    ADD COLUMN IF NOT EXISTS fbclid             text,
    ADD COLUMN IF NOT EXISTS touchpoints        jsonb,
    ADD COLUMN IF NOT EXISTS attribution_synced boolean NOT NULL DEFAULT false;

-- The incremental sync reads every table by updated_at: a trigger keeps it current for every writer. A
-- table without it gets the adoption time for its existing rows (their first sync copies them all anyway).
-- deleted_at (soft delete, NULL: live) is what the contract, the analytics and the webhook's migrations read;
-- a CRM without soft deletes gets it NULL everywhere.
-- Triggers and indexes carry the names 0001 gives them, so later migrations find them under those names.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'leads', 'deals', 'tasks', 'notes', 'activities'] LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now()', t);
        EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS deleted_at timestamptz', t);
        IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = t::regclass AND tgname = t || '_touch_updated_at') THEN
            EXECUTE format(
                'CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION hyperdash_touch_updated_at()',
                t || '_touch_updated_at', t);
        END IF;
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (updated_at, id)', t || '_updated_at_id_idx', t);
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (organization_id)', t || '_organization_id_idx', t);
    END LOOP;
END;
$$;

CREATE INDEX IF NOT EXISTS leads_campaign_idx ON leads (organization_id, campaign_id);
CREATE INDEX IF NOT EXISTS deals_lead_id_idx ON deals (lead_id);
