-- The report's filterable facts: additive sums per organization, source, campaign, ad and period bucket, from
-- which the page's script (and the server-rendered default view) regroup any filter combination.
-- Leads side: lead_attribution (one row per live CRM lead; conversion_date = the lead's created_at in UTC),
-- customers and won revenue from analytics.lead_outcomes. Spend side: campaign_metrics by its date.
-- source = lead_attribution.source, the lead source normalised from utm_source / gclid / fbclid (meta, google,
-- organic, or the utm_source as sent), and campaign_metrics.source (the ad platform) for spend.
-- bucket: UTC days from the row's date to the as-of date: 7 = 0..6 days, 30 = 7..29, 90 = 30..89,
-- 0 = older (or dated after the as-of date). "Last 30 days" is buckets 7 + 30; "all" every bucket.
WITH leads AS (
    SELECT la.organization_id, coalesce(la.source, 'organic') AS source, la.campaign_id, la.ad_id,
           la.conversion_date::date AS day,
           1 AS leads,
           CASE WHEN o.won_deals > 0 THEN 1 ELSE 0 END AS customers,
           coalesce(o.won_revenue, 0) AS revenue
    FROM lead_attribution AS la
    LEFT JOIN analytics.lead_outcomes AS o USING (lead_id)
    WHERE (%(organization_id)s::uuid IS NULL OR la.organization_id = %(organization_id)s::uuid)
), base AS (
    SELECT organization_id, source, campaign_id, ad_id, day, NULL::text AS currency,
           leads, customers, revenue,
           0::numeric AS spend, 0::numeric AS impressions, 0::numeric AS clicks, 0::numeric AS conversions,
           0::numeric AS conversion_value, 0::numeric AS video_3s_views, 0::numeric AS thruplays
    FROM leads
    UNION ALL
    SELECT organization_id, source, campaign_id, ad_id, date, currency::text,
           0, 0, 0,
           spend, impressions, clicks, conversions, conversion_value, video_3s_views, thruplays
    FROM campaign_metrics
    WHERE (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
), bucketed AS (
    SELECT *,
           CASE WHEN %(as_of)s::date - day BETWEEN 0 AND 6 THEN 7
                WHEN %(as_of)s::date - day BETWEEN 7 AND 29 THEN 30
                WHEN %(as_of)s::date - day BETWEEN 30 AND 89 THEN 90
                ELSE 0 END AS bucket
    FROM base
), campaign_names AS (
    SELECT DISTINCT ON (organization_id, source, campaign_id) organization_id, source, campaign_id, campaign_name
    FROM campaign_metrics
    WHERE campaign_name IS NOT NULL
    ORDER BY organization_id, source, campaign_id, date DESC, ingested_at DESC, id DESC
), ad_names AS (
    SELECT DISTINCT ON (organization_id, source, campaign_id, ad_id) organization_id, source, campaign_id, ad_id,
           ad_name
    FROM campaign_metrics
    WHERE ad_name IS NOT NULL AND ad_id IS NOT NULL
    ORDER BY organization_id, source, campaign_id, ad_id, date DESC, ingested_at DESC, id DESC
)
SELECT f.organization_id::text AS organization_id, f.source, f.campaign_id, f.ad_id, f.bucket,
       cn.campaign_name, an.ad_name,
       CASE WHEN count(DISTINCT f.currency) > 1 THEN 'mixed' ELSE max(f.currency) END AS currency,
       sum(f.leads)::bigint AS leads, sum(f.customers)::bigint AS customers, sum(f.revenue) AS revenue,
       sum(f.spend) AS spend, sum(f.impressions)::bigint AS impressions, sum(f.clicks)::bigint AS clicks,
       sum(f.conversions) AS conversions, sum(f.conversion_value) AS conversion_value,
       sum(f.video_3s_views)::bigint AS video_3s_views, sum(f.thruplays)::bigint AS thruplays
FROM bucketed AS f
LEFT JOIN campaign_names AS cn USING (organization_id, source, campaign_id)
LEFT JOIN ad_names AS an USING (organization_id, source, campaign_id, ad_id)
GROUP BY f.organization_id, f.source, f.campaign_id, f.ad_id, f.bucket, cn.campaign_name, an.ad_name
ORDER BY f.organization_id, f.source, f.campaign_id, f.ad_id NULLS FIRST, f.bucket
