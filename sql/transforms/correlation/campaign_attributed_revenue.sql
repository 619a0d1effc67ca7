-- Per (organization, campaign, model): leads and revenue credited by analytics.attribution_credits (the view)
-- against the campaign's spend (summed over sources; spend comes through correlation_ad_metrics, the
-- FX join point). Every campaign with spend gets a row for every model, so a model that credits it
-- nothing shows ROAS 0 instead of disappearing; credits without a campaign keep campaign_id NULL.
INSERT INTO analytics.campaign_attributed_revenue
    (organization_id, campaign_id, model, attributed_leads, attributed_revenue, spend, roas, currency)
WITH models (model) AS (
    SELECT unnest(%(models)s::text[])  -- hyperdash_pipeline.correlation.build.ATTRIBUTION_MODELS
),
spend AS (
    SELECT organization_id, campaign_id, sum(spend) AS spend, min(currency) AS currency_min, max(currency) AS currency_max
    FROM correlation_ad_metrics
    WHERE grain = 'creative'  -- either grain holds all spend once; never sum both
    GROUP BY 1, 2
),
credits AS (
    -- The rows of analytics.attribution_credits grouped by (organization, campaign, model), read from its
    -- storage (a column per model, NULL when not configured): a fifth of the rows to group, same sums.
    SELECT g.organization_id, g.campaign_id, m.model, m.leads, m.revenue
    FROM (
        SELECT organization_id, campaign_id,
               sum(first_touch) AS first_touch, sum(first_touch_revenue) AS first_touch_revenue,
               sum(last_touch) AS last_touch, sum(last_touch_revenue) AS last_touch_revenue,
               sum(linear) AS linear, sum(linear_revenue) AS linear_revenue,
               sum(position_based) AS position_based, sum(position_based_revenue) AS position_based_revenue,
               sum(time_decay) AS time_decay, sum(time_decay_revenue) AS time_decay_revenue
        FROM analytics.attribution_touch_credits
        GROUP BY 1, 2
    ) AS g
    CROSS JOIN LATERAL (VALUES
        ('first_touch', g.first_touch, g.first_touch_revenue),
        ('last_touch', g.last_touch, g.last_touch_revenue),
        ('linear', g.linear, g.linear_revenue),
        ('position_based', g.position_based, g.position_based_revenue),
        ('time_decay', g.time_decay, g.time_decay_revenue)
    ) AS m (model, leads, revenue)
    WHERE m.leads IS NOT NULL
),
sides AS (
    SELECT s.organization_id, s.campaign_id, m.model, s.spend, 0::float8 AS leads, 0::numeric AS revenue,
           s.currency_min, s.currency_max
    FROM spend AS s CROSS JOIN models AS m
    UNION ALL
    SELECT organization_id, campaign_id, model, 0, leads, revenue, NULL, NULL
    FROM credits
)
SELECT organization_id, campaign_id, model,
       sum(leads), sum(revenue), sum(spend),
       sum(revenue) / NULLIF(sum(spend), 0),
       CASE WHEN min(currency_min) <> max(currency_max) THEN 'mixed' ELSE max(currency_max) END
FROM sides
GROUP BY 1, 2, 3
