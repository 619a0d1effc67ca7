-- Before the parts of a parallel full rebuild (hyperdash_pipeline/attribution/parallel.py): each part is a range
-- of lead ids, rebuilt into stage tables in its own transaction on the snapshot the refresh exported. The parts' steps are in lead_attribution.sql and attribution_credits.sql (plans
-- `stage_part`).
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
