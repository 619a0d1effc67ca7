-- Organizations (and {partition} values: every one of %(parts)s must be present) whose spend in {table}
-- differs from public.campaign_metrics. An empty result means every unit of spend landed in exactly one row
-- of each partition.
WITH parts (part) AS (
    SELECT unnest(%(parts)s::text[])
),
expected AS (
    SELECT m.organization_id, p.part, sum(m.spend) AS spend
    FROM public.campaign_metrics AS m CROSS JOIN parts AS p
    GROUP BY 1, 2
),
actual AS (
    SELECT organization_id, {partition}::text AS part, sum(spend) AS spend FROM {table} GROUP BY 1, 2
)
SELECT coalesce(a.organization_id, e.organization_id)::text AS organization_id,
       coalesce(a.part, e.part) AS part,
       coalesce(e.spend, 0) AS expected_spend,
       coalesce(a.spend, 0) AS actual_spend
FROM actual AS a
FULL JOIN expected AS e
       ON e.organization_id = a.organization_id AND coalesce(e.part, '') = coalesce(a.part, '')
WHERE coalesce(e.spend, 0) <> coalesce(a.spend, 0)
ORDER BY 1, 2
LIMIT 20
