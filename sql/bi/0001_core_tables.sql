-- BI database (OLAP): the seed's seven tables in public, plus the crm_raw mirror schema and the
-- analytics schema for derived tables. lead_attribution has exactly the seed's columns.

CREATE SCHEMA IF NOT EXISTS crm_raw;
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE organizations (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL,
    slug               text NOT NULL UNIQUE,
    reporting_currency char(3) NOT NULL DEFAULT 'USD',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    email           text NOT NULL,
    name            text,
    role            text NOT NULL DEFAULT 'analyst' CHECK (role IN ('owner', 'admin', 'analyst', 'traffic_manager')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, email)
);

CREATE TABLE integrations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    provider        text NOT NULL CHECK (provider IN ('meta', 'google')),
    account_id      text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'error', 'disabled')),
    last_synced_at  timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, provider, account_id)
);

CREATE TABLE campaign_metrics (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    source           text NOT NULL,              -- meta, google
    campaign_id      text NOT NULL,
    ad_set_id        text,
    ad_id            text,
    date             date NOT NULL,
    campaign_name    text,
    ad_name          text,
    currency         char(3) NOT NULL DEFAULT 'USD',
    spend            numeric(14, 2) NOT NULL DEFAULT 0,
    impressions      bigint NOT NULL DEFAULT 0,
    clicks           bigint NOT NULL DEFAULT 0,
    conversions      numeric(14, 2) NOT NULL DEFAULT 0,   -- platform-reported
    conversion_value numeric(14, 2) NOT NULL DEFAULT 0,   -- platform-reported revenue
    video_3s_views   bigint NOT NULL DEFAULT 0,
    thruplays        bigint NOT NULL DEFAULT 0,
    cpa              numeric GENERATED ALWAYS AS (spend / NULLIF(conversions, 0)) STORED,
    roas             numeric GENERATED ALWAYS AS (conversion_value / NULLIF(spend, 0)) STORED,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_metrics_grain
        UNIQUE NULLS NOT DISTINCT (organization_id, source, campaign_id, ad_set_id, ad_id, date)
);
CREATE INDEX campaign_metrics_date_idx ON campaign_metrics (date);
CREATE INDEX campaign_metrics_campaign_date_idx ON campaign_metrics (organization_id, campaign_id, date);

CREATE TABLE ai_creative_insights (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    source          text NOT NULL,
    campaign_id     text NOT NULL,
    ad_id           text NOT NULL,
    recommendation  text NOT NULL CHECK (recommendation IN ('pause', 'scale', 'keep', 'insufficient_data')),
    reason          text NOT NULL,
    evidence        jsonb NOT NULL DEFAULT '{}'::jsonb,
    generated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, source, campaign_id, ad_id)
);

CREATE TABLE sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    lead_id         uuid,
    landing_page    text,
    referrer        text,
    utm_source      text,
    utm_medium      text,
    utm_campaign    text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz
);
CREATE INDEX sessions_lead_id_idx ON sessions (lead_id);

-- The seed's lead_attribution, column for column (Drizzle timestamp = timestamp without time zone).
CREATE TABLE lead_attribution (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id   uuid NOT NULL REFERENCES organizations (id),
    lead_id           uuid NOT NULL,
    campaign_id       text NOT NULL,
    ad_id             text,
    ad_set_id         text,
    source            text,
    medium            text,
    utm_campaign      text,
    utm_content       text,
    utm_term          text,
    cpa_at_conversion numeric(10, 2),
    roas              numeric(10, 2),
    touchpoints       jsonb,
    first_touch       timestamp,
    last_touch        timestamp,
    conversion_date   timestamp NOT NULL,
    created_at        timestamp NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX lead_attribution_lead_id_key ON lead_attribution (lead_id);
CREATE INDEX lead_attribution_campaign_idx ON lead_attribution (organization_id, campaign_id);

-- Rows that failed validation anywhere in the pipeline, kept with their reason (never dropped silently).
CREATE TABLE quarantine (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stage       text NOT NULL,      -- which asset or loader rejected it
    source_ref  text,               -- table/file and key or line number
    reason      text NOT NULL,
    payload     jsonb,
    detected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_stage_idx ON quarantine (stage, detected_at);
