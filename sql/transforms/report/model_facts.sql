-- The report's filterable facts per campaign, attribution model and period bucket (analytics.report_bucket of
-- the credited lead's creation day): the leads and won revenue each model credits the campaign
-- (analytics.attribution_touch_credits, the wide form of analytics.attribution_credits: summed per campaign and
-- bucket first, then one row per model, so the touches are read once). A campaign's source is its ad platform
-- in campaign_metrics, else the source of its own leads; credits without a campaign are '(no campaign)',
-- organic. A model not configured has no credit and no row.
WITH sums AS (
    SELECT c.organization_id, c.campaign_id, analytics.report_bucket(%(as_of)s, la.conversion_date::date) AS bucket,
           sum(c.first_touch) AS first_touch, sum(c.first_touch_revenue) AS first_touch_revenue,
           sum(c.last_touch) AS last_touch, sum(c.last_touch_revenue) AS last_touch_revenue,
           sum(c.linear) AS linear, sum(c.linear_revenue) AS linear_revenue,
           sum(c.position_based) AS position_based, sum(c.position_based_revenue) AS position_based_revenue,
           sum(c.time_decay) AS time_decay, sum(c.time_decay_revenue) AS time_decay_revenue
    FROM analytics.attribution_touch_credits AS c
    JOIN lead_attribution AS la USING (lead_id)
    WHERE %(organization_id)s::uuid IS NULL OR c.organization_id = %(organization_id)s::uuid
    GROUP BY 1, 2, 3
), campaign_source AS (
    SELECT DISTINCT ON (organization_id, campaign_id) organization_id, campaign_id, source
    FROM (
        SELECT DISTINCT organization_id, campaign_id, source, 0 AS rank FROM campaign_metrics
        UNION ALL
        SELECT DISTINCT organization_id, campaign_id, coalesce(source, 'organic'), 1 FROM lead_attribution
    ) AS known
    ORDER BY organization_id, campaign_id, rank, source
)
SELECT s.organization_id::text AS organization_id, coalesce(k.source, 'organic') AS source,
       coalesce(s.campaign_id, '(no campaign)') AS campaign_id, m.model, s.bucket,
       m.credit AS attributed_leads, m.revenue AS attributed_revenue
FROM sums AS s
LEFT JOIN campaign_source AS k ON (k.organization_id, k.campaign_id) = (s.organization_id, s.campaign_id)
CROSS JOIN LATERAL (VALUES
    ('first_touch', s.first_touch, s.first_touch_revenue),
    ('last_touch', s.last_touch, s.last_touch_revenue),
    ('linear', s.linear, s.linear_revenue),
    ('position_based', s.position_based, s.position_based_revenue),
    ('time_decay', s.time_decay, s.time_decay_revenue)
) AS m (model, credit, revenue)
WHERE m.credit IS NOT NULL
ORDER BY 1, 2, 3, 4, 5
