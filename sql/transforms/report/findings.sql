-- The newest scale and pause calls from ai_creative_insights, a bounded number of each, with the creative's
-- latest names from creative_performance.
SELECT recommendation, source, campaign_id, campaign_name, ad_id, ad_name, reason, evidence, generated_at
FROM (
    SELECT i.*, c.campaign_name, c.ad_name,
           row_number() OVER (PARTITION BY i.recommendation
                              ORDER BY i.generated_at DESC, i.source, i.campaign_id, i.ad_id) AS n
    FROM ai_creative_insights AS i
    LEFT JOIN analytics.creative_performance AS c
           ON (c.organization_id, c.source, c.campaign_id, c.ad_id) = (i.organization_id, i.source, i.campaign_id, i.ad_id)
    WHERE i.recommendation IN ('scale', 'pause')
      AND (%(organization_id)s::uuid IS NULL OR i.organization_id = %(organization_id)s::uuid)
) AS ranked
WHERE n <= %(max_findings)s
ORDER BY recommendation DESC, n
