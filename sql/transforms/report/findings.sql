-- The newest scale and pause calls from ai_creative_insights, a bounded number of each.
SELECT recommendation, source, campaign_id, ad_id, reason, evidence, generated_at
FROM (
    SELECT i.*, row_number() OVER (PARTITION BY recommendation ORDER BY generated_at DESC, source, campaign_id, ad_id) AS n
    FROM ai_creative_insights AS i
    WHERE recommendation IN ('scale', 'pause')
      AND (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
) AS ranked
WHERE n <= %(max_findings)s
ORDER BY recommendation DESC, n
