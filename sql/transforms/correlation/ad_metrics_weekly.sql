-- Ad-platform metrics summed per (organization, source, campaign, ad, week of the metric date, currency).
-- FX JOIN POINT (spend): spend and conversion_value are summed in campaign_metrics.currency as stored.
-- When the BI table fx_rates(date, currency, rate) exists, join it here on (m.date, m.currency) and
-- multiply spend and conversion_value by the rate into organizations.reporting_currency; every
-- correlation table reads spend through this one query, so nothing else changes.
CREATE TEMP TABLE correlation_ad_metrics ON COMMIT DROP AS
SELECT m.organization_id,
       m.source,
       m.campaign_id,
       m.ad_id,
       date_trunc('week', m.date::timestamp)::date AS week_start,
       m.currency::text                              AS currency,
       sum(m.spend)                                  AS spend,
       sum(m.impressions)                            AS impressions,
       sum(m.clicks)                                 AS clicks,
       sum(m.conversions)                            AS conversions,
       sum(m.conversion_value)                       AS conversion_value,
       sum(m.video_3s_views)                         AS video_3s_views,
       sum(m.thruplays)                              AS thruplays
FROM public.campaign_metrics AS m
GROUP BY 1, 2, 3, 4, 5, 6
