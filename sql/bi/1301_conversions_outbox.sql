-- Offline conversions sent back to Meta (Conversions API) and Google Ads (click conversions):
-- the outbox, its build watermark, the consent columns the CRM mirror carries, and per-organization /
-- per-integration settings. See docs/conversions.md.

ALTER TABLE crm_raw.leads
    ADD COLUMN ad_user_data_consent       boolean,
    ADD COLUMN ad_personalization_consent boolean;

-- When true, nothing is sent for a lead whose ad_user_data consent is not granted.
ALTER TABLE organizations
    ADD COLUMN conversions_require_consent boolean NOT NULL DEFAULT false;

-- An integration with conversions_config set is where its organization's conversions go:
-- Meta {"dataset_id": "<pixel / dataset id>"}; Google {"conversion_actions": {"lead": "customers/1/conversionActions/2", ...}}.
-- conversions_status / _last_error / _last_sent_at are the sender's own (ingestion keeps status / last_error):
-- unconfigured = no token, rows stay pending; error = the last delivery failed, rows stay pending.
ALTER TABLE integrations
    ADD COLUMN conversions_config jsonb CHECK (conversions_config IS NULL OR jsonb_typeof(conversions_config) = 'object'),
    ADD COLUMN conversions_status text CHECK (conversions_status IN ('ok', 'error', 'unconfigured')),
    ADD COLUMN conversions_last_error text,
    ADD COLUMN conversions_last_sent_at timestamptz;

-- One row per (event, platform). event_id is deterministic (the same CRM event has the same id forever)
-- and shared by both platforms; each platform has its own status. Identifiers are stored hashed
-- (SHA-256 of the platform's normalisation), never in clear.
CREATE TABLE conversions_outbox (
    event_id                   uuid NOT NULL,
    platform                   text NOT NULL CHECK (platform IN ('meta', 'google')),
    organization_id            uuid NOT NULL,
    lead_id                    uuid NOT NULL,
    deal_id                    uuid,
    event_kind                 text NOT NULL CHECK (event_kind IN ('lead', 'qualified', 'purchase')),
    event_time                 timestamptz NOT NULL,
    value                      numeric(14, 2),
    currency                   char(3),
    click_id                   text,          -- fbclid (meta) or gclid (google)
    click_time                 timestamptz,   -- when the CRM first saw the click id: the lead's created_at
    email_sha256               text,
    phone_sha256               text,
    ad_user_data_consent       boolean,
    ad_personalization_consent boolean,
    status                     text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'rejected', 'expired', 'skipped_consent')),
    attempts                   integer NOT NULL DEFAULT 0,
    last_attempt_at            timestamptz,
    sent_at                    timestamptz,
    integration_id             uuid,
    reason                     text,          -- the platform's message for a rejection, or why not sent
    response                   jsonb,         -- the platform's answer for this event
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, platform)
);
CREATE INDEX conversions_outbox_pending_idx
    ON conversions_outbox (platform, organization_id, event_time) WHERE status = 'pending';
CREATE INDEX conversions_outbox_updated_idx ON conversions_outbox (updated_at);

-- How far into crm_raw (by _synced_at) the outbox build has read.
CREATE TABLE conversions_outbox_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark timestamptz NOT NULL
);
