-- Per creative: hook rate (3-second views / impressions) against lead->customer rate, with the insight's call.
SELECT c.source, c.campaign_id, c.ad_id, c.leads, c.hook_rate, c.lead_to_customer_rate,
       c.lead_to_customer_rate_low, c.lead_to_customer_rate_high, i.recommendation
FROM analytics.creative_performance AS c
LEFT JOIN ai_creative_insights AS i
       ON i.organization_id = c.organization_id AND i.source = c.source
      AND i.campaign_id = c.campaign_id AND i.ad_id = c.ad_id
WHERE (%(organization_id)s::uuid IS NULL OR c.organization_id = %(organization_id)s::uuid)
  AND c.hook_rate IS NOT NULL
  AND c.lead_to_customer_rate IS NOT NULL
ORDER BY c.spend DESC NULLS LAST, c.leads DESC NULLS LAST, c.source, c.campaign_id, c.ad_id
LIMIT %(max_points)s
