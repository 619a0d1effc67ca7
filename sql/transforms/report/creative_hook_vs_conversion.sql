-- Per creative (the biggest spenders): hook rate (3-second views / impressions) against lead->customer rate,
-- with the insight's call. A creative without video views has no hook rate (NULL): listed, not charted.
SELECT c.source, c.campaign_id, c.campaign_name, c.ad_id, c.ad_name, c.currency, c.spend, c.leads,
       c.hook_rate, c.hold_rate, c.lead_to_customer_rate,
       c.lead_to_customer_rate_low, c.lead_to_customer_rate_high, i.recommendation
FROM analytics.creative_performance AS c
LEFT JOIN ai_creative_insights AS i
       ON i.organization_id = c.organization_id AND i.source = c.source
      AND i.campaign_id = c.campaign_id AND i.ad_id = c.ad_id
WHERE (%(organization_id)s::uuid IS NULL OR c.organization_id = %(organization_id)s::uuid)
  AND c.ad_id IS NOT NULL
ORDER BY c.spend DESC NULLS LAST, c.leads DESC NULLS LAST, c.source, c.campaign_id, c.ad_id
LIMIT %(max_points)s
