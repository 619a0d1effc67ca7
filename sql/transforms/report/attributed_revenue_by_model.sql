-- Attributed revenue per model for the campaigns with the most attributed revenue under any model.
WITH filtered AS (
    SELECT source, campaign_id, model, attributed_leads, attributed_revenue, spend
    FROM analytics.campaign_attributed_revenue
    WHERE (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
), top_campaigns AS (
    SELECT source, campaign_id
    FROM filtered
    GROUP BY source, campaign_id
    ORDER BY max(attributed_revenue) DESC NULLS LAST, source, campaign_id
    LIMIT %(max_categories)s
)
SELECT f.source, f.campaign_id, f.model,
       sum(f.attributed_leads) AS attributed_leads,
       sum(f.attributed_revenue) AS attributed_revenue,
       sum(f.spend) AS spend
FROM filtered AS f
JOIN top_campaigns USING (source, campaign_id)
GROUP BY f.source, f.campaign_id, f.model
ORDER BY f.source, f.campaign_id, f.model
