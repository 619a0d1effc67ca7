-- The report's filterable facts: additive sums per organization, source, campaign and period bucket, from
-- which the page's script (and the server-rendered default view) regroup any filter combination.
-- Leads side: lead_attribution (one row per live CRM lead; conversion_date = the lead's created_at in UTC),
-- customers and won revenue from analytics.lead_outcomes. Spend side: campaign_metrics by its date.
-- source = lead_attribution.source, the lead source normalised from utm_source / gclid / fbclid (meta, google,
-- organic, or the utm_source as sent), and campaign_metrics.source (the ad platform) for spend.
-- bucket: UTC days from the row's date to the as-of date: 7 = 0..6 days, 30 = 7..29, 90 = 30..89,
-- 0 = older (or dated after the as-of date). "Last 30 days" is buckets 7 + 30; "all" every bucket.
WITH lead_side AS (
    SELECT la.organization_id, coalesce(la.source, 'organic') AS source, la.campaign_id, b.bucket,
           NULL::text AS currency,
           count(*) AS leads, count(*) FILTER (WHERE o.won_deals > 0) AS customers,
           coalesce(sum(o.won_revenue), 0) AS revenue,
           0::numeric AS spend, 0::numeric AS impressions, 0::numeric AS clicks, 0::numeric AS conversions,
           0::numeric AS conversion_value, 0::numeric AS video_3s_views, 0::numeric AS thruplays
    FROM lead_attribution AS la
    LEFT JOIN analytics.lead_outcomes AS o USING (lead_id)
    CROSS JOIN LATERAL (SELECT %(as_of)s::date - la.conversion_date::date AS days_ago) AS d
    CROSS JOIN LATERAL (
        SELECT CASE WHEN d.days_ago < 0 THEN 0 WHEN d.days_ago < 7 THEN 7 WHEN d.days_ago < 30 THEN 30
                    WHEN d.days_ago < 90 THEN 90 ELSE 0 END AS bucket
    ) AS b
    WHERE (%(organization_id)s::uuid IS NULL OR la.organization_id = %(organization_id)s::uuid)
    GROUP BY la.organization_id, coalesce(la.source, 'organic'), la.campaign_id, b.bucket
), spend_side AS (
    SELECT m.organization_id, m.source, m.campaign_id, b.bucket,
           CASE WHEN min(m.currency) <> max(m.currency) THEN 'mixed' ELSE max(m.currency)::text END,
           0, 0, 0,
           sum(m.spend), sum(m.impressions), sum(m.clicks), sum(m.conversions), sum(m.conversion_value),
           sum(m.video_3s_views), sum(m.thruplays)
    FROM campaign_metrics AS m
    CROSS JOIN LATERAL (SELECT %(as_of)s::date - m.date AS days_ago) AS d
    CROSS JOIN LATERAL (
        SELECT CASE WHEN d.days_ago < 0 THEN 0 WHEN d.days_ago < 7 THEN 7 WHEN d.days_ago < 30 THEN 30
                    WHEN d.days_ago < 90 THEN 90 ELSE 0 END AS bucket
    ) AS b
    WHERE (%(organization_id)s::uuid IS NULL OR m.organization_id = %(organization_id)s::uuid)
    GROUP BY m.organization_id, m.source, m.campaign_id, b.bucket
), grouped AS (
    SELECT organization_id, source, campaign_id, bucket,
           CASE WHEN min(currency) <> max(currency) THEN 'mixed' ELSE max(currency) END AS currency,
           sum(leads)::bigint AS leads, sum(customers)::bigint AS customers, sum(revenue) AS revenue,
           sum(spend) AS spend, sum(impressions)::bigint AS impressions, sum(clicks)::bigint AS clicks,
           sum(conversions) AS conversions, sum(conversion_value) AS conversion_value,
           sum(video_3s_views)::bigint AS video_3s_views, sum(thruplays)::bigint AS thruplays
    FROM (SELECT * FROM lead_side UNION ALL SELECT * FROM spend_side) AS both_sides
    GROUP BY organization_id, source, campaign_id, bucket
), campaign_names AS (
    -- the name on the campaign's newest dated metrics row that has one (as the correlation tables)
    SELECT k.organization_id, k.source, k.campaign_id, n.campaign_name
    FROM (SELECT DISTINCT organization_id, source, campaign_id FROM grouped) AS k
    CROSS JOIN LATERAL (
        SELECT m.campaign_name FROM campaign_metrics AS m
        WHERE m.organization_id = k.organization_id AND m.campaign_id = k.campaign_id AND m.source = k.source
          AND m.campaign_name IS NOT NULL
        ORDER BY m.date DESC, m.ingested_at DESC, m.id DESC
        LIMIT 1
    ) AS n
)
SELECT g.organization_id::text AS organization_id, g.source, g.campaign_id, g.bucket,
       cn.campaign_name, g.currency, g.leads, g.customers, g.revenue, g.spend, g.impressions, g.clicks,
       g.conversions, g.conversion_value, g.video_3s_views, g.thruplays
FROM grouped AS g
LEFT JOIN campaign_names AS cn USING (organization_id, source, campaign_id)
ORDER BY g.organization_id, g.source, g.campaign_id, g.bucket
