-- Ad-platform metrics summed at the same two grains as correlation_lead_cohorts, per currency:
-- grain 'creative' = (organization, source, campaign, ad); grain 'week' = (organization, source, campaign,
-- Monday of the metric date's week). Each grain holds every unit of spend exactly once.
-- FX JOIN POINT (spend): spend and conversion_value are summed in campaign_metrics.currency as stored.
-- When the BI table fx_rates(date, currency, rate) exists, join it here on (m.date, m.currency) and
-- multiply spend and conversion_value by the rate into organizations.reporting_currency; every
-- correlation table reads spend through this one query, so nothing else changes.
CREATE TEMP TABLE correlation_ad_metrics ON COMMIT DROP AS
SELECT organization_id, source, campaign_id, ad_id, week_start, currency,
       CASE WHEN GROUPING(ad_id) = 0 THEN 'creative' ELSE 'week' END AS grain,
       sum(spend)            AS spend,
       sum(impressions)      AS impressions,
       sum(clicks)           AS clicks,
       sum(conversions)      AS conversions,
       sum(conversion_value) AS conversion_value,
       sum(video_3s_views)   AS video_3s_views,
       sum(thruplays)        AS thruplays
FROM (
    SELECT m.organization_id, m.source, m.campaign_id, m.ad_id,
           date_trunc('week', m.date::timestamp)::date AS week_start,
           m.currency::text AS currency,
           m.spend, m.impressions, m.clicks, m.conversions, m.conversion_value, m.video_3s_views, m.thruplays
    FROM public.campaign_metrics AS m
) AS metric
GROUP BY organization_id, source, campaign_id, currency, GROUPING SETS ((ad_id), (week_start))
