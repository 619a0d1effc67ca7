-- Totals per attribution model over every campaign: revenue, leads and the ROAS each model implies.
SELECT model,
       sum(attributed_leads) AS attributed_leads,
       sum(attributed_revenue) AS attributed_revenue,
       sum(spend) AS spend,
       sum(attributed_revenue) / NULLIF(sum(spend), 0) AS roas
FROM analytics.campaign_attributed_revenue
WHERE (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
GROUP BY model
ORDER BY model
