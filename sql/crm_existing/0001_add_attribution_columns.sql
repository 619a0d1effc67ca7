-- The seed's "Migração Futura": bring an EXISTING CRM's leads table up to the attribution contract.
-- Every statement is additive and idempotent; no row is rewritten (constant and NULL defaults are
-- metadata-only since PostgreSQL 11), so it is safe on a large live table.
-- Apply with: hyperdash migrate --existing-crm

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
    ADD COLUMN IF NOT EXISTS attribution_synced boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS updated_at         timestamptz NOT NULL DEFAULT now();

CREATE OR REPLACE FUNCTION hyperdash_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS leads_touch_updated_at ON leads;
CREATE TRIGGER leads_touch_updated_at BEFORE UPDATE ON leads
    FOR EACH ROW EXECUTE FUNCTION hyperdash_touch_updated_at();

CREATE INDEX IF NOT EXISTS leads_updated_at_id_idx ON leads (updated_at, id);
CREATE INDEX IF NOT EXISTS leads_unsynced_idx ON leads (updated_at) WHERE NOT attribution_synced;
