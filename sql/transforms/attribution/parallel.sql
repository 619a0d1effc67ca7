-- The parts of a parallel full rebuild (hyperdash_pipeline/attribution/parallel.py): each part is a set of
-- organizations and a lead-id range, rebuilt in its own transaction on the snapshot the refresh exported.
-- Parameters: organizations (uuid[]), low, high (uuid, inclusive). The parts' steps are in
-- lead_attribution.sql and attribution_credits.sql (plans `part`); here, how the parts are planned.
--
-- plan placeholders: organizations

-- step: organizations
-- Placeholders for unknown organizations (as the one-session rebuild's `organizations` step), created and
-- committed before the snapshot: two parts of one organization inserting it would fail each other's check.
INSERT INTO organizations (id, name, slug)
SELECT DISTINCT l.organization_id, 'Organization ' || l.organization_id, 'org-' || l.organization_id
FROM crm_raw.leads l
WHERE l.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = l.organization_id)
ON CONFLICT DO NOTHING;

-- step: sizes
-- Live leads per organization (the parts are balanced on them), every known organization included (0 leads:
-- a part still removes its stale rows).
SELECT o.organization_id::text, count(l.id)::bigint
FROM (SELECT id AS organization_id FROM organizations
      UNION SELECT organization_id FROM crm_raw.leads WHERE deleted_at IS NULL) o
LEFT JOIN crm_raw.leads l ON l.organization_id = o.organization_id AND l.deleted_at IS NULL
GROUP BY o.organization_id;

-- step: credit_sizes
-- Attributed leads per organization, with every organization that may still hold credits.
SELECT o.organization_id::text, count(la.lead_id)::bigint
FROM (SELECT id AS organization_id FROM organizations
      UNION SELECT organization_id FROM lead_attribution
      UNION SELECT organization_id FROM analytics.campaign_credit_totals) o
LEFT JOIN lead_attribution la ON la.organization_id = o.organization_id
GROUP BY o.organization_id;
