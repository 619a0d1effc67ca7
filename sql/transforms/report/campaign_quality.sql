-- Per campaign: CPL, lead->customer rate with its interval, platform vs real ROAS (the biggest spenders).
SELECT source, campaign_id, campaign_name, currency, spend, leads, customers, revenue,
       lead_to_customer_rate, lead_to_customer_rate_low, lead_to_customer_rate_high,
       cpl, platform_roas, real_roas
FROM analytics.campaign_lead_quality
WHERE (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
ORDER BY spend DESC NULLS LAST, leads DESC NULLS LAST, source, campaign_id
LIMIT %(max_points)s
