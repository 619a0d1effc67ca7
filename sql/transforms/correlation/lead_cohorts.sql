-- Live attributed leads and what they bought, summed at the two grains the correlation tables need, in one
-- pass (GROUPING SETS): grain 'creative' = (organization, source, campaign, ad), week_start NULL;
-- grain 'week' = (organization, source, campaign, UTC week the lead was created), ad_id NULL.
--   leads     = lead_attribution rows whose CRM lead is live (crm_raw.leads.deleted_at IS NULL)
--   customers = those leads with at least one live won deal
--   revenue   = the sum of those won deals' amounts (a won deal without an amount counts as 0)
-- FX JOIN POINT (revenue): deal amounts are summed in crm_raw.deals.currency as stored; convert them here,
-- inside `won`, once fx_rates(date, currency, rate) exists (rate at d.closed_at into the organization's
-- reporting_currency).
CREATE TEMP TABLE correlation_lead_cohorts ON COMMIT DROP AS
WITH won AS (
    SELECT d.lead_id, sum(coalesce(d.amount, 0)) AS revenue
    FROM crm_raw.deals AS d
    WHERE d.stage = 'won' AND d.deleted_at IS NULL AND d.lead_id IS NOT NULL
    GROUP BY d.lead_id
),
live AS (
    SELECT la.organization_id,
           coalesce(la.source, 'organic')                            AS source,
           la.campaign_id,
           la.ad_id,
           date_trunc('week', l.created_at AT TIME ZONE 'UTC')::date AS week_start,
           won.lead_id IS NOT NULL                                   AS is_customer,
           won.revenue
    FROM public.lead_attribution AS la
    JOIN crm_raw.leads AS l ON l.id = la.lead_id AND l.deleted_at IS NULL
    LEFT JOIN won ON won.lead_id = la.lead_id
)
SELECT organization_id, source, campaign_id, ad_id, week_start,
       CASE WHEN GROUPING(ad_id) = 0 THEN 'creative' ELSE 'week' END AS grain,
       count(*)                                  AS leads,
       count(*) FILTER (WHERE is_customer)       AS customers,
       coalesce(sum(revenue), 0)                 AS revenue
FROM live
GROUP BY organization_id, source, campaign_id, GROUPING SETS ((ad_id), (week_start))
