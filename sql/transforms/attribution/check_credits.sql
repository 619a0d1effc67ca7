-- Credits of every (lead, configured model) sum to 1; every attributed lead not waiting in the change log has
-- credits. Read from the storage (one row per lead x touch, a column per model; a model not configured is
-- NULL in every row, so its sum is NULL and it counts neither as a lead x model nor as a bad sum): the same
-- sums as grouping the contract view by (lead_id, model), with a fifth of the rows to group.
WITH sums AS (
    SELECT lead_id, sum(first_touch) AS first_touch, sum(last_touch) AS last_touch, sum(linear) AS linear,
           sum(position_based) AS position_based, sum(time_decay) AS time_decay
    FROM analytics.attribution_touch_credits
    GROUP BY lead_id
), per_model AS (
    SELECT count(*) FILTER (WHERE abs(m.total - 1) > %(tolerance)s) AS bad_sums, count(*) AS lead_models
    FROM sums
    CROSS JOIN LATERAL (VALUES (sums.first_touch), (sums.last_touch), (sums.linear), (sums.position_based),
                               (sums.time_decay)) AS m (total)
    WHERE m.total IS NOT NULL
)
SELECT per_model.bad_sums, per_model.lead_models,
       (SELECT count(*) FROM lead_attribution la
         WHERE NOT EXISTS (SELECT 1 FROM analytics.attribution_touch_credits c WHERE c.lead_id = la.lead_id)
           AND NOT EXISTS (SELECT 1 FROM analytics.lead_attribution_changes ch WHERE ch.lead_id = la.lead_id))
           AS uncredited_leads
FROM per_model;
