-- Customers (paths that converted) and their won revenue per organization.
SELECT p.organization_id, count(*) AS customers, coalesce(sum(o.won_revenue), 0) AS revenue
FROM analytics.lead_outcomes o
JOIN analytics.attribution_paths p ON p.lead_id = o.lead_id AND p.converted
GROUP BY p.organization_id;
