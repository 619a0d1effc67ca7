-- Multi-touch attribution outputs (column names are the contract: docs/contracts.md#attribution-contract).

CREATE TABLE analytics.attribution_credits (
    organization_id uuid NOT NULL,
    lead_id         uuid NOT NULL,
    touch_index     int NOT NULL,        -- 0-based position in the collapsed path, oldest first
    channel         text,
    campaign_id     text,
    ad_id           text,
    model           text NOT NULL CHECK (model IN ('first_touch', 'last_touch', 'linear', 'position_based', 'time_decay')),
    credit          double precision NOT NULL,
    revenue_credit  numeric(18, 6) NOT NULL DEFAULT 0,
    PRIMARY KEY (lead_id, model, touch_index)
);
CREATE INDEX attribution_credits_campaign_idx ON analytics.attribution_credits (organization_id, campaign_id, model);

CREATE TABLE analytics.markov_attribution (
    organization_id        uuid NOT NULL,
    dimension              text NOT NULL CHECK (dimension IN ('channel', 'campaign')),
    touch                  text NOT NULL,
    removal_effect         double precision NOT NULL,
    attributed_conversions double precision NOT NULL,
    attributed_revenue     numeric(18, 6) NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, dimension, touch)
);
