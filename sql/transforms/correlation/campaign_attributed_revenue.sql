-- Per (organization, campaign, model): leads and revenue credited by analytics.attribution_credits
-- against the campaign's spend (summed over sources; spend comes through correlation_ad_metrics, the
-- FX join point). Every campaign with spend gets a row for every model, so a model that credits it
-- nothing shows ROAS 0 instead of disappearing; credits without a campaign keep campaign_id NULL.
INSERT INTO analytics.campaign_attributed_revenue
    (organization_id, campaign_id, model, attributed_leads, attributed_revenue, spend, roas, currency)
WITH models (model) AS (
    VALUES ('first_touch'), ('last_touch'), ('linear'), ('position_based'), ('time_decay')
),
spend AS (
    SELECT organization_id, campaign_id, sum(spend) AS spend, min(currency) AS currency_min, max(currency) AS currency_max
    FROM correlation_ad_metrics
    WHERE grain = 'creative'  -- either grain holds all spend once; never sum both
    GROUP BY 1, 2
),
credits AS (
    SELECT organization_id, campaign_id, model, sum(credit) AS leads, sum(revenue_credit) AS revenue
    FROM analytics.attribution_credits
    GROUP BY 1, 2, 3
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
