-- crm_raw: the CRM tables mirrored into BI by the incremental sync. Same columns as the CRM
-- (no foreign keys, no defaults: the CRM is the source of truth), plus _synced_at.
-- Hard deletes in the CRM remove the row here; soft deletes arrive as deleted_at.

CREATE TABLE crm_raw.contacts (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, name text, email text, phone text,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz,
    _synced_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm_raw.leads (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, contact_id uuid,
    name text, email text, phone text, status text NOT NULL, value numeric(14, 2),
    campaign_id text, ad_id text, ad_set_id text,
    utm_source text, utm_medium text, utm_campaign text, utm_content text, utm_term text,
    gclid text, fbclid text, touchpoints jsonb, attribution_synced boolean NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz,
    _synced_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm_raw.deals (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, lead_id uuid, contact_id uuid,
    title text, stage text NOT NULL, amount numeric(14, 2), currency char(3) NOT NULL,
    closed_at timestamptz, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    deleted_at timestamptz,
    _synced_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm_raw.tasks (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, lead_id uuid, deal_id uuid, contact_id uuid,
    title text NOT NULL, due_at timestamptz, completed_at timestamptz,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz,
    _synced_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm_raw.notes (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, lead_id uuid, deal_id uuid, contact_id uuid,
    body text NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz,
    _synced_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm_raw.activities (
    id uuid PRIMARY KEY, organization_id uuid NOT NULL, lead_id uuid, deal_id uuid, contact_id uuid,
    kind text NOT NULL, occurred_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz,
    _synced_at timestamptz NOT NULL DEFAULT now()
);

-- Downstream transforms read changed rows and a lead's deals through these.
CREATE INDEX crm_raw_leads_synced_idx ON crm_raw.leads (_synced_at);
CREATE INDEX crm_raw_deals_synced_idx ON crm_raw.deals (_synced_at);
CREATE INDEX crm_raw_deals_lead_id_idx ON crm_raw.deals (lead_id);
