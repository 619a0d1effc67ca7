-- Customers (leads with a won deal) and their won revenue per organization, over live attributed leads.
SELECT la.organization_id,
       count(o.lead_id) AS customers,
       coalesce(sum(o.won_revenue), 0) AS revenue
FROM lead_attribution la
LEFT JOIN analytics.lead_outcomes o ON o.lead_id = la.lead_id
GROUP BY la.organization_id;
