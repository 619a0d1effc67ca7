-- The demo's summary: the five campaigns with the best real ROAS (CRM revenue / spend) among those with
-- 30 leads or more, beside the platform's pixel ROAS.
SELECT source, campaign_id, leads, customers, round((lead_to_customer_rate * 100)::numeric, 1),
       round(cpl::numeric, 2), round(platform_roas::numeric, 2), round(real_roas::numeric, 2)
FROM analytics.campaign_lead_quality
WHERE real_roas IS NOT NULL AND leads >= 30
ORDER BY real_roas DESC
LIMIT 5;
