-- Organizations whose lead count in {table} differs from the live attributed leads
-- (public.lead_attribution joined to crm_raw.leads with deleted_at IS NULL).
WITH expected AS (
    SELECT la.organization_id, count(*) AS leads
    FROM public.lead_attribution AS la
    JOIN crm_raw.leads AS l ON l.id = la.lead_id AND l.deleted_at IS NULL
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
