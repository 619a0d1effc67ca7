-- Per (organization, campaign, model): leads and revenue credited by analytics.attribution_credits against the
-- campaign's spend (summed over sources). Every campaign with spend gets a row for every model, so a model
-- that credits it nothing shows ROAS 0 instead of disappearing; credits without a campaign keep campaign_id
-- NULL. Reads only small tables (migration 0302) and consumes nothing, so it never waits on the correlation
-- refresh:
--   spend   = analytics.correlation_spend_totals plus the campaign_metrics deltas still queued (together they
--             equal campaign_metrics at every commit); straight from campaign_metrics while a truncation is
--             queued, since the deltas before it no longer apply (one statement: one snapshot for both)
--   credits = analytics.campaign_credit_totals, kept by a trigger on the credits storage; a model not
--             configured is NULL there and left out here
INSERT INTO analytics.campaign_attributed_revenue
    (organization_id, campaign_id, model, attributed_leads, attributed_revenue, spend, roas, currency)
WITH models (model) AS (
    SELECT unnest(%(models)s::text[])  -- hyperdash_pipeline.correlation.build.ATTRIBUTION_MODELS
),
queue AS (
    SELECT EXISTS (SELECT 1 FROM analytics.campaign_metrics_deltas WHERE grain = 'reset') AS truncated
),
spend_rows AS (
    SELECT organization_id, campaign_id, currency, metric_rows, spend
    FROM analytics.correlation_spend_totals
    WHERE grain = 'creative' AND NOT (SELECT truncated FROM queue)  -- either grain holds all spend once
    UNION ALL
    SELECT organization_id, campaign_id, currency, metric_rows, spend
    FROM analytics.campaign_metrics_deltas
    WHERE grain = 'creative' AND NOT (SELECT truncated FROM queue)
    UNION ALL
    SELECT organization_id, campaign_id, currency::text, 1, spend
    FROM public.campaign_metrics
    WHERE (SELECT truncated FROM queue)
),
spend_per_currency AS (
    SELECT organization_id, campaign_id, currency, sum(spend) AS spend
    FROM spend_rows
    GROUP BY 1, 2, 3
    HAVING sum(metric_rows) > 0
),
spend AS (
    SELECT organization_id, campaign_id, sum(spend) AS spend, min(currency) AS currency_min, max(currency) AS currency_max
    FROM spend_per_currency
    GROUP BY 1, 2
),
credits AS (
    SELECT g.organization_id, g.campaign_id, m.model, m.leads, m.revenue
    FROM analytics.campaign_credit_totals AS g
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
    SELECT s.organization_id, s.campaign_id, m.model, s.spend, 0::numeric AS leads, 0::numeric AS revenue,
           s.currency_min, s.currency_max
    FROM spend AS s CROSS JOIN models AS m
    UNION ALL
    SELECT organization_id, campaign_id, model, 0, leads, revenue, NULL, NULL
    FROM credits
)
SELECT organization_id, campaign_id, model,
       sum(leads)::float8, sum(revenue), sum(spend),
       sum(revenue) / NULLIF(sum(spend), 0),
       CASE WHEN min(currency_min) <> max(currency_max) THEN 'mixed' ELSE max(currency_max) END
FROM sides
GROUP BY 1, 2, 3
