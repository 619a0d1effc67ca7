-- Credits of every (lead, model) sum to 1; every attributed lead not waiting in the change log has credits.
WITH sums AS (
    SELECT lead_id, model, sum(credit) AS total
    FROM analytics.attribution_credits
    GROUP BY lead_id, model
)
SELECT (SELECT count(*) FROM sums WHERE abs(total - 1) > %(tolerance)s) AS bad_sums,
       (SELECT count(*) FROM sums) AS lead_models,
       (SELECT count(*) FROM lead_attribution la
         WHERE NOT EXISTS (SELECT 1 FROM analytics.attribution_credits c WHERE c.lead_id = la.lead_id)
           AND NOT EXISTS (SELECT 1 FROM analytics.lead_attribution_changes ch WHERE ch.lead_id = la.lead_id))
           AS uncredited_leads;
