-- The report's filterable facts per creative (organization, source, campaign, ad) and period bucket
-- (analytics.report_bucket): the leads created and those that became customers (lead_attribution.ad_id, the
-- lead's own ad), against the spend, impressions and video views dated in the bucket (campaign_metrics by ad).
-- Same grain and ratios as analytics.creative_performance, which has no dates; the page's script regroups.
WITH lead_side AS (
    SELECT la.organization_id, coalesce(la.source, 'organic') AS source, la.campaign_id, la.ad_id,
           analytics.report_bucket(%(as_of)s, la.conversion_date::date) AS bucket, NULL::text AS currency,
           count(*) AS leads, count(*) FILTER (WHERE o.won_deals > 0) AS customers,
           0::numeric AS spend, 0::numeric AS impressions, 0::numeric AS video_3s_views, 0::numeric AS thruplays
    FROM lead_attribution AS la
    LEFT JOIN analytics.lead_outcomes AS o USING (lead_id)
    WHERE la.ad_id IS NOT NULL
      AND (%(organization_id)s::uuid IS NULL OR la.organization_id = %(organization_id)s::uuid)
    GROUP BY 1, 2, 3, 4, 5
), spend_side AS (
    SELECT organization_id, source, campaign_id, ad_id, analytics.report_bucket(%(as_of)s, date),
           CASE WHEN min(currency) <> max(currency) THEN 'mixed' ELSE max(currency)::text END,
           0, 0, sum(spend), sum(impressions), sum(video_3s_views), sum(thruplays)
    FROM campaign_metrics
    WHERE ad_id IS NOT NULL
      AND (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
    GROUP BY 1, 2, 3, 4, 5
), grouped AS (
    SELECT organization_id, source, campaign_id, ad_id, bucket,
           CASE WHEN min(currency) <> max(currency) THEN 'mixed' ELSE max(currency) END AS currency,
           sum(leads)::bigint AS leads, sum(customers)::bigint AS customers, sum(spend) AS spend,
           sum(impressions)::bigint AS impressions, sum(video_3s_views)::bigint AS video_3s_views,
           sum(thruplays)::bigint AS thruplays
    FROM (SELECT * FROM lead_side UNION ALL SELECT * FROM spend_side) AS both_sides
    GROUP BY 1, 2, 3, 4, 5
), names AS (
    -- the names on the creative's newest dated metrics row that has them (as the correlation tables)
    SELECT k.organization_id, k.source, k.campaign_id, k.ad_id, n.campaign_name, n.ad_name
    FROM (SELECT DISTINCT organization_id, source, campaign_id, ad_id FROM grouped) AS k
    CROSS JOIN LATERAL (
        SELECT m.campaign_name, m.ad_name FROM campaign_metrics AS m
        WHERE (m.organization_id, m.source, m.campaign_id, m.ad_id) = (k.organization_id, k.source, k.campaign_id, k.ad_id)
          AND (m.campaign_name IS NOT NULL OR m.ad_name IS NOT NULL)
        ORDER BY m.date DESC, m.ingested_at DESC, m.id DESC
        LIMIT 1
    ) AS n
)
SELECT g.organization_id::text AS organization_id, g.source, g.campaign_id, g.ad_id, g.bucket,
       n.campaign_name, n.ad_name, g.currency, g.leads, g.customers, g.spend, g.impressions, g.video_3s_views,
       g.thruplays
FROM grouped AS g
LEFT JOIN names AS n USING (organization_id, source, campaign_id, ad_id)
ORDER BY 1, 2, 3, 4, 5
