-- Attributed revenue per model for the campaigns with the most attributed revenue under any model.
-- campaign_attributed_revenue is keyed by campaign alone; its source and name come from campaign_lead_quality.
WITH campaign_source AS (
    SELECT DISTINCT ON (organization_id, campaign_id) organization_id, campaign_id, source, campaign_name
    FROM analytics.campaign_lead_quality
    ORDER BY organization_id, campaign_id, source
), filtered AS (
    SELECT coalesce(s.source, 'organic') AS source, coalesce(r.campaign_id, '(no campaign)') AS campaign_id,
           s.campaign_name,
           r.model, r.attributed_leads, r.attributed_revenue, r.spend
    FROM analytics.campaign_attributed_revenue AS r
    LEFT JOIN campaign_source AS s USING (organization_id, campaign_id)
    WHERE (%(organization_id)s::uuid IS NULL OR r.organization_id = %(organization_id)s::uuid)
), top_campaigns AS (
    SELECT source, campaign_id
    FROM filtered
    GROUP BY source, campaign_id
    ORDER BY max(attributed_revenue) DESC NULLS LAST, source, campaign_id
    LIMIT %(max_categories)s
)
SELECT f.source, f.campaign_id, max(f.campaign_name) AS campaign_name, f.model,
       sum(f.attributed_leads) AS attributed_leads,
       sum(f.attributed_revenue) AS attributed_revenue,
       sum(f.spend) AS spend
FROM filtered AS f
JOIN top_campaigns USING (source, campaign_id)
GROUP BY f.source, f.campaign_id, f.model
ORDER BY f.source, f.campaign_id, f.model
