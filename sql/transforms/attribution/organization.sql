-- One organization's rebuild (hyperdash_pipeline/attribution/organization.py) and its Dagster partitions:
-- the queries it reads and the Markov rows it replaces. Its table steps are in lead_attribution.sql
-- (organization_prepare, part, organization_log) and attribution_credits.sql (part, organization_finish).
-- Parameter: organization (uuid).

-- step: organization_ids
-- The partitions of the `organizations` dynamic partitions definition: every organization in BI.
SELECT id::text FROM organizations ORDER BY id;

-- step: markov_transitions
-- markov_transitions.sql for one organization.
SELECT organization_id, dimension, from_state, to_state, transitions
FROM analytics.markov_transitions
WHERE transitions > 0 AND organization_id = %(organization)s::uuid;

-- step: markov_totals
-- markov_totals.sql for one organization.
SELECT p.organization_id, count(*) AS customers, coalesce(sum(o.won_revenue), 0) AS revenue
FROM analytics.lead_outcomes o
JOIN analytics.attribution_paths p ON p.lead_id = o.lead_id AND p.converted
WHERE p.organization_id = %(organization)s::uuid
GROUP BY p.organization_id;

-- step: markov_delete
DELETE FROM analytics.markov_attribution WHERE organization_id = %(organization)s::uuid;

-- step: record_row_change
-- This rebuild's change to a table's row count (migration 1912), added to the kept count by its next refresh.
INSERT INTO analytics.attribution_row_changes (name, delta) VALUES (%(name)s, %(delta)s);

-- step: consume_row_changes
-- The changes of the organization rebuilds since a table's last refresh, consumed: this snapshot's.
WITH consumed AS (DELETE FROM analytics.attribution_row_changes WHERE name = %(name)s RETURNING delta)
SELECT coalesce(sum(delta), 0) FROM consumed;
