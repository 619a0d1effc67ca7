-- CRM core tables (OLTP). The contract lives in docs/contracts.md "CRM tables".
-- updated_at is maintained by a trigger so every writer (app, webhook, psql) bumps it.

CREATE OR REPLACE FUNCTION hyperdash_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

CREATE TABLE contacts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    name            text,
    email           text,
    phone           text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at      timestamptz
);

CREATE TABLE leads (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id    uuid NOT NULL,
    contact_id         uuid REFERENCES contacts (id) ON DELETE SET NULL,
    name               text,
    email              text,
    phone              text,
    status             text NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'contacted', 'qualified', 'unqualified', 'won', 'lost')),
    value              numeric(14, 2),
    campaign_id        text,
    ad_id              text,
    ad_set_id          text,
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    utm_content        text,
    utm_term           text,
    gclid              text,
    fbclid             text,
    touchpoints        jsonb,
    attribution_synced boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at         timestamptz
);

CREATE TABLE deals (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    lead_id         uuid REFERENCES leads (id) ON DELETE CASCADE,
    contact_id      uuid REFERENCES contacts (id) ON DELETE SET NULL,
    title           text,
    stage           text NOT NULL DEFAULT 'open' CHECK (stage IN ('open', 'won', 'lost')),
    amount          numeric(14, 2),
    currency        char(3) NOT NULL DEFAULT 'USD',
    closed_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at      timestamptz
);

CREATE TABLE tasks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    lead_id         uuid REFERENCES leads (id) ON DELETE CASCADE,
    deal_id         uuid REFERENCES deals (id) ON DELETE CASCADE,
    contact_id      uuid REFERENCES contacts (id) ON DELETE SET NULL,
    title           text NOT NULL,
    due_at          timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at      timestamptz
);

CREATE TABLE notes (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    lead_id         uuid REFERENCES leads (id) ON DELETE CASCADE,
    deal_id         uuid REFERENCES deals (id) ON DELETE CASCADE,
    contact_id      uuid REFERENCES contacts (id) ON DELETE SET NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at      timestamptz
);

CREATE TABLE activities (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    lead_id         uuid REFERENCES leads (id) ON DELETE CASCADE,
    deal_id         uuid REFERENCES deals (id) ON DELETE CASCADE,
    contact_id      uuid REFERENCES contacts (id) ON DELETE SET NULL,
    kind            text NOT NULL,   -- call, email, meeting, whatsapp, page_view ...
    occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at      timestamptz
);

-- updated_at triggers and the (updated_at, id) index an incremental sync scans.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'leads', 'deals', 'tasks', 'notes', 'activities'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION hyperdash_touch_updated_at()',
            t || '_touch_updated_at', t);
        EXECUTE format('CREATE INDEX %I ON %I (updated_at, id)', t || '_updated_at_id_idx', t);
        EXECUTE format('CREATE INDEX %I ON %I (organization_id)', t || '_organization_id_idx', t);
    END LOOP;
END;
$$;

-- Lookups the pipeline and the app make.
CREATE INDEX leads_campaign_idx ON leads (organization_id, campaign_id);
CREATE INDEX leads_unsynced_idx ON leads (updated_at) WHERE NOT attribution_synced;
CREATE INDEX deals_lead_id_idx ON deals (lead_id);
CREATE INDEX tasks_lead_id_idx ON tasks (lead_id);
CREATE INDEX notes_lead_id_idx ON notes (lead_id);
CREATE INDEX activities_lead_id_idx ON activities (lead_id);
