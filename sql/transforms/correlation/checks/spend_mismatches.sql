-- Organizations (and {partition} values) whose spend in {table} differs from public.campaign_metrics.
-- An empty result means every unit of spend landed in exactly one row.
WITH expected AS (
    SELECT organization_id, sum(spend) AS spend FROM public.campaign_metrics GROUP BY 1
),
actual AS (
    SELECT organization_id, {partition}::text AS part, sum(spend) AS spend FROM {table} GROUP BY 1, 2
)
SELECT coalesce(a.organization_id, e.organization_id)::text AS organization_id,
       a.part,
       coalesce(e.spend, 0) AS expected_spend,
       coalesce(a.spend, 0) AS actual_spend
FROM actual AS a
FULL JOIN expected AS e ON e.organization_id = a.organization_id
WHERE coalesce(e.spend, 0) <> coalesce(a.spend, 0)
ORDER BY 1, 2
LIMIT 20
