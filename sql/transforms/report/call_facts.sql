-- Every call of ai_creative_insights, newest first, for the report's findings and the creatives chart: the
-- filters select by organization and source (calls are made on all of a creative's data, so the period does
-- not apply). Reason and evidence only for the scale and pause calls the findings list.
SELECT i.organization_id::text AS organization_id, i.source, i.campaign_id, i.ad_id, i.recommendation,
       c.campaign_name, c.ad_name,
       CASE WHEN i.recommendation IN ('scale', 'pause') THEN i.reason END AS reason,
       CASE WHEN i.recommendation IN ('scale', 'pause') THEN i.evidence END AS evidence
FROM ai_creative_insights AS i
LEFT JOIN analytics.creative_performance AS c
       ON (c.organization_id, c.source, c.campaign_id, c.ad_id) = (i.organization_id, i.source, i.campaign_id, i.ad_id)
WHERE %(organization_id)s::uuid IS NULL OR i.organization_id = %(organization_id)s::uuid
ORDER BY i.generated_at DESC, i.source, i.campaign_id, i.ad_id
