-- Lead->customer rate per weekly lead cohort, for the campaigns with the most leads (ratio of sums).
WITH filtered AS (
    SELECT source, campaign_id, campaign_name, week_start AS week, leads, customers, cohort_age_days
    FROM analytics.campaign_weekly
    WHERE (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
), top_campaigns AS (
    SELECT source, campaign_id
    FROM filtered
    GROUP BY source, campaign_id
    ORDER BY sum(leads) DESC NULLS LAST, source, campaign_id
    LIMIT %(max_series)s
)
SELECT f.source, f.campaign_id, max(f.campaign_name) AS campaign_name, f.week::date AS week,
       sum(f.leads) AS leads,
       sum(f.customers) AS customers,
       sum(f.customers)::double precision / NULLIF(sum(f.leads), 0) AS lead_to_customer_rate,
       min(f.cohort_age_days) AS cohort_age_days
FROM filtered AS f
JOIN top_campaigns USING (source, campaign_id)
GROUP BY f.source, f.campaign_id, f.week
ORDER BY f.source, f.campaign_id, f.week
