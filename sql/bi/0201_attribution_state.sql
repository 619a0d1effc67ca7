-- Attribution bookkeeping: watermarks and config of each refresh, per-lead deal outcomes, the log of
-- leads changed by lead_attribution refreshes (consumed by attribution_credits), the known channels.

CREATE TABLE analytics.attribution_state (
    name            text PRIMARY KEY,        -- lead_attribution, attribution_credits
    leads_synced_at timestamptz,             -- crm_raw.leads._synced_at already processed (exclusive)
    deals_synced_at timestamptz,             -- crm_raw.deals._synced_at already processed (exclusive)
    last_run_id     bigint,                  -- last run of lead_attribution written / consumed
    full_run_id     bigint,                  -- last full rebuild of lead_attribution
    config          jsonb NOT NULL DEFAULT '{}'::jsonb,
    refreshed_at    timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE analytics.attribution_run_id_seq;

-- Won deals per lead (only leads with at least one live won deal of a non-negative amount).
CREATE TABLE analytics.lead_outcomes (
    lead_id      uuid PRIMARY KEY,
    won_deals    int NOT NULL,
    won_revenue  numeric(18, 2) NOT NULL,
    first_won_at timestamptz,
    run_id       bigint NOT NULL
);

-- Leads recomputed by each incremental lead_attribution run (deleted = the lead is gone or soft-deleted).
CREATE TABLE analytics.lead_attribution_changes (
    run_id  bigint NOT NULL,
    lead_id uuid NOT NULL,
    deleted boolean NOT NULL,
    PRIMARY KEY (run_id, lead_id)
);

-- Channels a touchpoint may name; anything else is quarantined. Add rows here to accept a new channel.
CREATE TABLE analytics.known_channels (
    channel     text PRIMARY KEY,
    description text NOT NULL
);
INSERT INTO analytics.known_channels (channel, description) VALUES
    ('meta', 'Facebook / Instagram ads'),
    ('google', 'Google Ads (search, display, YouTube)'),
    ('organic', 'no paid source'),
    ('organic_search', 'unpaid search results'),
    ('paid_search', 'paid search other than Google Ads'),
    ('direct', 'typed URL / bookmark'),
    ('email', 'email campaigns'),
    ('referral', 'links from other sites'),
    ('social', 'unpaid social media'),
    ('display', 'display / banner ads'),
    ('video', 'video ads other than Meta / Google'),
    ('affiliate', 'affiliates and partners'),
    ('sms', 'SMS / WhatsApp messages'),
    ('tiktok', 'TikTok ads'),
    ('linkedin', 'LinkedIn ads'),
    ('twitter', 'X / Twitter ads'),
    ('bing', 'Microsoft Advertising'),
    ('other', 'anything else the CRM labels explicitly');

-- Spellings accepted for a known channel (lower-cased, trimmed before lookup).
CREATE TABLE analytics.channel_aliases (
    alias   text PRIMARY KEY,
    channel text NOT NULL REFERENCES analytics.known_channels (channel)
);
INSERT INTO analytics.channel_aliases (alias, channel)
SELECT channel, channel FROM analytics.known_channels
UNION ALL VALUES
    ('facebook', 'meta'), ('fb', 'meta'), ('instagram', 'meta'), ('ig', 'meta'),
    ('adwords', 'google'), ('gads', 'google'), ('google_ads', 'google'),
    ('x', 'twitter'), ('whatsapp', 'sms');

-- The source normalisation of the metric contract (docs/contracts.md#metric-contract), usable by every transform.
CREATE FUNCTION analytics.normalise_source(utm_source text, gclid text, fbclid text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN nullif(btrim(fbclid), '') IS NOT NULL
             OR lower(btrim(utm_source)) IN ('facebook', 'fb', 'instagram', 'ig', 'meta') THEN 'meta'
        WHEN nullif(btrim(gclid), '') IS NOT NULL
             OR lower(btrim(utm_source)) IN ('google', 'adwords', 'gads') THEN 'google'
        WHEN nullif(btrim(utm_source), '') IS NULL THEN 'organic'
        ELSE lower(btrim(utm_source))
    END
$$;

-- Re-evaluated leads and deals replace their own quarantine rows.
CREATE INDEX quarantine_stage_source_ref_idx ON quarantine (stage, source_ref);
