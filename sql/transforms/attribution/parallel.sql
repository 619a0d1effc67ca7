-- The parts of a parallel full rebuild (hyperdash_pipeline/attribution/parallel.py): each part is a set of
-- organizations and a lead-id range, rebuilt in its own transaction on the snapshot the refresh exported.
-- Parameters: organizations (uuid[]), low, high (uuid, inclusive).

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

-- A row belongs to the part that rebuilds its live lead (a lead moved to another organization included),
-- else, its lead gone, to the part of the organization and range it was stored under: no row is written by
-- two parts, so parts never wait on (or fail a serialisable check against) each other.

-- step: delete_gone_leads
-- Rows of leads deleted (or soft-deleted) in the CRM; the live ones are replaced by the upsert.
DELETE FROM lead_attribution la
WHERE la.organization_id = ANY (%(organizations)s::uuid[])
  AND la.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid
  AND NOT EXISTS (SELECT 1 FROM crm_raw.leads l WHERE l.id = la.lead_id AND l.deleted_at IS NULL);

-- step: delete_credits
-- The credits of the part's attributed leads (recomputed next).
DELETE FROM analytics.attribution_touch_credits c
WHERE c.lead_id IN (SELECT la.lead_id FROM lead_attribution la
                    WHERE la.organization_id = ANY (%(organizations)s::uuid[])
                      AND la.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid);

-- step: delete_gone_credits
-- Credits stored under the part's organizations and range whose lead is no longer attributed.
DELETE FROM analytics.attribution_touch_credits c
WHERE c.organization_id = ANY (%(organizations)s::uuid[])
  AND c.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid
  AND NOT EXISTS (SELECT 1 FROM lead_attribution la WHERE la.lead_id = c.lead_id);

-- step: delete_paths
DELETE FROM analytics.attribution_paths p
WHERE p.lead_id IN (SELECT la.lead_id FROM lead_attribution la
                    WHERE la.organization_id = ANY (%(organizations)s::uuid[])
                      AND la.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid);

-- step: delete_gone_paths
DELETE FROM analytics.attribution_paths p
WHERE p.organization_id = ANY (%(organizations)s::uuid[])
  AND p.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid
  AND NOT EXISTS (SELECT 1 FROM lead_attribution la WHERE la.lead_id = p.lead_id);

-- step: credit_totals_clear
-- The parts deferred the per-statement totals: regrouped once (credit_totals_full) after this.
DELETE FROM analytics.campaign_credit_totals;

-- step: transitions_truncate
-- Regrouped from every stored path (transitions_apply) after the parts.
TRUNCATE analytics.markov_transitions;
