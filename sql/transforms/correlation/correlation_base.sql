-- The full outer join of spend and leads at both grains, written as UNION ALL + GROUP BY so that a NULL
-- ad_id on both sides still matches (GROUP BY treats NULLs as equal; a join condition would not).
-- Campaigns with spend and no leads, and leads with no spend, both survive with zeros on the other side.
CREATE TEMP TABLE correlation_base ON COMMIT DROP AS
SELECT organization_id, source, campaign_id, ad_id, week_start, grain,
       max(currency) AS currency,
       sum(spend) AS spend, sum(impressions) AS impressions, sum(clicks) AS clicks,
       sum(conversions) AS conversions, sum(conversion_value) AS conversion_value,
       sum(video_3s_views) AS video_3s_views, sum(thruplays) AS thruplays,
       sum(leads) AS leads, sum(customers) AS customers, sum(revenue) AS revenue,
       count(DISTINCT currency) AS currencies
FROM (
    SELECT organization_id, source, campaign_id, ad_id, week_start, grain, currency,
           spend, impressions, clicks, conversions, conversion_value, video_3s_views, thruplays,
           0 AS leads, 0 AS customers, 0 AS revenue
    FROM correlation_ad_metrics
    UNION ALL
    SELECT organization_id, source, campaign_id, ad_id, week_start, grain, NULL,
           0, 0, 0, 0, 0, 0, 0,
           leads, customers, revenue
    FROM correlation_lead_cohorts
) AS sides
GROUP BY 1, 2, 3, 4, 5, 6
