-- Organizations whose lead count in {table} differs from the live attributed leads: the rows of
-- public.lead_attribution, which holds exactly one per live CRM lead.
WITH expected AS (
    SELECT organization_id, count(*) AS leads
    FROM public.lead_attribution
    GROUP BY 1
),
actual AS (
    SELECT organization_id, sum(leads) AS leads FROM {table} GROUP BY 1
)
SELECT coalesce(a.organization_id, e.organization_id)::text AS organization_id,
       coalesce(e.leads, 0) AS expected_leads,
       coalesce(a.leads, 0) AS actual_leads
FROM actual AS a
FULL JOIN expected AS e ON e.organization_id = a.organization_id
WHERE coalesce(e.leads, 0) <> coalesce(a.leads, 0)
ORDER BY 1
LIMIT 20
