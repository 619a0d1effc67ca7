-- Credits stored one row per lead x touch, the five models side by side; analytics.attribution_credits becomes
-- a view with exactly the contract's columns and rows (one per lead x touch x configured model).
-- Why: the long table repeated organization, lead, touch, channel, campaign and ad five times (11.6 M rows,
-- 1.26 GB at 1 M leads); loading and indexing it was ~33 s of the 60 s budget of issue #4. The wide table
-- holds 2.3 M rows (320 MB). A model not configured has NULL credit and revenue credit, and the view
-- leaves it out. No reader filters by campaign (campaign_attributed_revenue aggregates every row), so the
-- long table's (organization_id, campaign_id, model) index has no successor: building it cost 9-13 s.
-- Still UNLOGGED (migration 0204): crash recovery empties it and the next refresh rebuilds in full.

CREATE UNLOGGED TABLE analytics.attribution_touch_credits (
    organization_id               uuid NOT NULL,
    lead_id                       uuid NOT NULL,
    touch_index                   int NOT NULL,   -- 0-based position in the collapsed path, oldest first
    channel                       text,
    campaign_id                   text,
    ad_id                         text,
    first_touch                   double precision,   -- credit per model; NULL = model not configured
    last_touch                    double precision,
    linear                        double precision,
    position_based                double precision,
    time_decay                    double precision,
    first_touch_revenue           numeric(18, 6),     -- revenue credit per model (credit x won revenue)
    last_touch_revenue            numeric(18, 6),
    linear_revenue                numeric(18, 6),
    position_based_revenue        numeric(18, 6),
    time_decay_revenue            numeric(18, 6),
    PRIMARY KEY (lead_id, touch_index)
);

INSERT INTO analytics.attribution_touch_credits
SELECT min(organization_id::text)::uuid, lead_id, touch_index, min(channel), min(campaign_id), min(ad_id),
       min(credit) FILTER (WHERE model = 'first_touch'),
       min(credit) FILTER (WHERE model = 'last_touch'),
       min(credit) FILTER (WHERE model = 'linear'),
       min(credit) FILTER (WHERE model = 'position_based'),
       min(credit) FILTER (WHERE model = 'time_decay'),
       min(revenue_credit) FILTER (WHERE model = 'first_touch'),
       min(revenue_credit) FILTER (WHERE model = 'last_touch'),
       min(revenue_credit) FILTER (WHERE model = 'linear'),
       min(revenue_credit) FILTER (WHERE model = 'position_based'),
       min(revenue_credit) FILTER (WHERE model = 'time_decay')
FROM analytics.attribution_credits
GROUP BY lead_id, touch_index;

DROP TABLE analytics.attribution_credits;

CREATE VIEW analytics.attribution_credits AS
SELECT c.organization_id, c.lead_id, c.touch_index, c.channel, c.campaign_id, c.ad_id,
       m.model, m.credit, m.revenue_credit
FROM analytics.attribution_touch_credits AS c
CROSS JOIN LATERAL (VALUES
    ('first_touch'::text, c.first_touch, c.first_touch_revenue),
    ('last_touch', c.last_touch, c.last_touch_revenue),
    ('linear', c.linear, c.linear_revenue),
    ('position_based', c.position_based, c.position_based_revenue),
    ('time_decay', c.time_decay, c.time_decay_revenue)
) AS m (model, credit, revenue_credit)
WHERE m.credit IS NOT NULL;

COMMENT ON VIEW analytics.attribution_credits IS
    'Multi-touch credits, one row per lead x touch x configured model (docs/contracts.md#attribution-contract); '
    'stored in analytics.attribution_touch_credits, one row per lead x touch.';
