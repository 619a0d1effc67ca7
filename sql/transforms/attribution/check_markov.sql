-- attributed_conversions of each organization and dimension add up to its customers.
WITH totals AS (
    SELECT la.organization_id, count(o.lead_id) AS customers
    FROM lead_attribution la
    LEFT JOIN analytics.lead_outcomes o ON o.lead_id = la.lead_id
    GROUP BY la.organization_id
), sums AS (
    SELECT organization_id, dimension, sum(attributed_conversions) AS conversions
    FROM analytics.markov_attribution
    GROUP BY organization_id, dimension
)
SELECT count(*) FILTER (WHERE abs(coalesce(s.conversions, 0) - t.customers) > 1e-6 * greatest(t.customers, 1))
           AS mismatched,
       coalesce(sum(t.customers) FILTER (WHERE d.dimension = 'channel'), 0) AS customers
FROM totals t
CROSS JOIN (VALUES ('channel'), ('campaign')) AS d (dimension)
LEFT JOIN sums s ON s.organization_id = t.organization_id AND s.dimension = d.dimension;
