-- Refresh (full or incremental) of public.lead_attribution and analytics.lead_outcomes, run step by step
-- in one REPEATABLE READ transaction by hyperdash_pipeline.attribution.refresh.refresh_lead_attribution.
-- Parameters: leads_wm / deals_wm (timestamptz, exclusive; NULL on a full rebuild), run_id (bigint).
-- A part of a parallel full rebuild (attribution/parallel.py) also gets low_lead, high_lead (uuid); one
-- organization's rebuild gets organizations (uuid[]), low, high (uuid).
--
-- plan outcomes: deal_changes won outcome_diff outcomes_delete outcomes_upsert
-- plan outcomes_changed: deal_changes deal_leads deal_leads_count won[deal_leads] outcome_diff[outcome_leads] outcomes_delete outcomes_upsert
-- plan full_prepare: deletions quarantine_clear_full leads quarantine_insert organizations campaign_window truncate
-- plan full_load: cpa_hashed insert planner_defaults
-- plan stage_part: leads[part_range] quarantine_insert organizations campaign_window cpa_hashed insert deal_quarantine_insert[part_deals] planner_defaults
-- plan staged_prepare: quarantine_clear_full
-- plan staged_finish: deletions_staged
-- plan organization_part: leads[part_leads] quarantine_insert organizations campaign_window delete_gone_leads added cpa_hashed upsert planner_defaults
-- plan changed: deletions changed_ids changed changed_after_truncation changed_index quarantine_clear_changed leads[changed_leads] quarantine_insert organizations campaign_window delete_gone added upsert log_changes
-- plan deal_quarantine: deal_quarantine_clear deal_quarantine_insert
-- One organization's rebuild (attribution/organization.py) runs organization_prepare, then `part` for that
-- organization's whole lead-id range (organization_part: `part` counting its new rows), then organization_log,
-- in one transaction.
-- plan organization_prepare: organization_gone organization_quarantine_clear organization_won organization_outcomes_delete organization_outcomes_upsert
-- plan organization_log: organization_log
-- scope deal_leads: AND d.lead_id IN (SELECT lead_id FROM _deal_leads)
-- scope outcome_leads: AND o.lead_id IN (SELECT lead_id FROM _deal_leads)
-- scope changed_leads: AND l.id = ANY ((SELECT array_agg(lead_id) FROM _la_changed WHERE live)::uuid[])
-- A part of a parallel full rebuild: the leads of a range of ids (attribution/parallel.py), read by a sequential or
-- bitmap scan of the mirror in the order its rows lie on disk; the part's stage becomes that range's partition.
-- scope part_range: AND l.id BETWEEN %(low_lead)s::uuid AND %(high_lead)s::uuid
-- The deals of a part's leads; those of no lead go to the part holding the lowest ids.
-- scope part_deals: AND CASE WHEN d.lead_id IS NULL THEN %(low_lead)s::uuid = '00000000-0000-0000-0000-000000000000'::uuid ELSE d.lead_id BETWEEN %(low_lead)s::uuid AND %(high_lead)s::uuid END
-- scope part_leads: AND l.organization_id = ANY (%(organizations)s::uuid[]) AND l.id BETWEEN %(low)s::uuid AND %(high)s::uuid

-- step: deal_changes
-- The leads queued by crm_raw.deals' triggers since the last refresh (migration 1911), consumed: this
-- snapshot's queue. A full comparison (the `outcomes` plan) consumes it too.
CREATE TEMP TABLE _deal_changes ON COMMIT DROP AS
WITH consumed AS (DELETE FROM analytics.crm_deal_changes RETURNING lead_id)
SELECT lead_id FROM consumed;

-- step: deal_queue_truncated
-- A NULL in the queue: crm_raw.deals was truncated (a full re-copy), so every outcome is compared once.
SELECT EXISTS (SELECT 1 FROM analytics.crm_deal_changes WHERE lead_id IS NULL);

-- step: deal_leads
-- Incremental runs only. Leads whose outcome may have changed: the queued ones (a deal moved away, or
-- removed) and the leads of the deals synced since the watermark (new, won, lost, re-valued, soft-deleted).
CREATE TEMP TABLE _deal_leads ON COMMIT DROP AS
SELECT lead_id FROM _deal_changes WHERE lead_id IS NOT NULL
UNION
SELECT lead_id FROM crm_raw.deals
WHERE _synced_at > coalesce(%(deals_wm)s, '-infinity'::timestamptz) AND lead_id IS NOT NULL;

-- step: deal_leads_count
-- Counted, so that the two steps below probe the deals and the outcomes by lead id instead of reading them all.
ANALYZE _deal_leads;

-- step: won
-- Live won deals of a non-negative amount, per lead (a NULL amount counts as a won deal worth 0); every lead
-- on a full comparison, the leads of _deal_leads on an incremental one.
CREATE TEMP TABLE _won ON COMMIT DROP AS
SELECT d.lead_id,
       count(*)::int                              AS won_deals,
       coalesce(sum(d.amount), 0)::numeric(18, 2) AS won_revenue,
       min(coalesce(d.closed_at, d.updated_at))   AS first_won_at
FROM crm_raw.deals d
WHERE d.stage = 'won' AND d.deleted_at IS NULL AND d.lead_id IS NOT NULL
  AND (d.amount IS NULL OR d.amount >= 0)
  {scope}
GROUP BY d.lead_id;

-- step: outcome_diff
-- Leads whose outcome differs from the stored one: a deal closed, reopened, changed amount or vanished.
CREATE TEMP TABLE _outcome_diff ON COMMIT DROP AS
SELECT coalesce(w.lead_id, o.lead_id) AS lead_id, w.won_deals, w.won_revenue, w.first_won_at
FROM _won w
FULL JOIN (SELECT * FROM analytics.lead_outcomes o WHERE true {scope}) o ON o.lead_id = w.lead_id
WHERE (w.won_deals, w.won_revenue, w.first_won_at) IS DISTINCT FROM (o.won_deals, o.won_revenue, o.first_won_at);

-- step: outcomes_delete
DELETE FROM analytics.lead_outcomes o
USING _outcome_diff d
WHERE o.lead_id = d.lead_id AND d.won_deals IS NULL;

-- step: outcomes_upsert
INSERT INTO analytics.lead_outcomes (lead_id, won_deals, won_revenue, first_won_at, run_id)
SELECT lead_id, won_deals, won_revenue, first_won_at, %(run_id)s
FROM _outcome_diff
WHERE won_deals IS NOT NULL
ON CONFLICT (lead_id) DO UPDATE
SET won_deals = excluded.won_deals, won_revenue = excluded.won_revenue,
    first_won_at = excluded.first_won_at, run_id = excluded.run_id;

-- step: deletions
-- The leads deleted from the mirror since the last refresh (migration 0206), consumed: this snapshot's queue.
CREATE TEMP TABLE _la_deleted ON COMMIT DROP AS
WITH consumed AS (DELETE FROM analytics.crm_lead_deletions RETURNING lead_id)
SELECT lead_id FROM consumed;

-- step: changed_ids
-- Incremental runs only. Leads to recompute: synced since the watermark (soft deletes included), whose
-- outcome changed, and the leads deleted from the mirror that the queue names.
CREATE TEMP TABLE _la_changed_ids ON COMMIT DROP AS
SELECT id AS lead_id FROM crm_raw.leads WHERE _synced_at > coalesce(%(leads_wm)s, '-infinity'::timestamptz)
UNION
SELECT d.lead_id FROM _outcome_diff d JOIN crm_raw.leads l ON l.id = d.lead_id
UNION
SELECT lead_id FROM _la_deleted WHERE lead_id IS NOT NULL;

-- step: changed
-- Whether each is live, read by primary key: the ids are counted first (ANALYZE), because an estimate
-- from the mirror's statistics, missing or stale right after a sync (autovacuum off, or not yet run),
-- made the planner scan and hash the whole mirror for a few changed leads (0.5 s at 1M leads).
ANALYZE _la_changed_ids;
CREATE TEMP TABLE _la_changed ON COMMIT DROP AS
SELECT c.lead_id, (l.id IS NOT NULL AND l.deleted_at IS NULL) AS live
FROM _la_changed_ids c
LEFT JOIN crm_raw.leads l ON l.id = c.lead_id;

-- step: changed_after_truncation
-- After a truncation of the mirror (a NULL in the queue): every other row whose lead is gone, by an
-- anti-join. A statement of its own: as a branch of the steps above, its estimate (the whole table) steered
-- their plan to a scan of the whole mirror on every refresh; here the one-time filter skips it unless needed.
INSERT INTO _la_changed (lead_id, live)
SELECT la.lead_id, false
FROM lead_attribution la
LEFT JOIN crm_raw.leads l ON l.id = la.lead_id
WHERE (l.id IS NULL OR l.deleted_at IS NOT NULL)
  AND EXISTS (SELECT 1 FROM _la_deleted WHERE lead_id IS NULL)
  AND NOT EXISTS (SELECT 1 FROM _la_changed c WHERE c.lead_id = la.lead_id);

-- step: changed_index
CREATE UNIQUE INDEX ON _la_changed (lead_id);
ANALYZE _la_changed;

-- step: truncations_seen
-- The truncation markers this snapshot sees (the parts' snapshot): a parallel rebuild read the mirror as
-- re-copied after them, so its load consumes them (`deletions_staged`). ctids: the rows stay put until a
-- refresh of lead_attribution, which holds its lock for the whole rebuild, deletes them.
SELECT coalesce(array_agg(ctid::text), '{}') FROM analytics.crm_lead_deletions WHERE lead_id IS NULL;

-- step: deletions_staged
-- After a parallel rebuild's load (its parts read an older snapshot than this transaction): the queued
-- deletions it covered are consumed, those of leads it still holds (deleted after its snapshot) are left
-- for the next refresh, and so is a truncation marker queued after that snapshot (a re-copy after it hides
-- rows from the parts; the next refresh's anti-join and the re-copy's new stamps repair that). The markers
-- its parts saw are consumed: left, they made the next refresh anti-join the whole mirror (1.1 s at 1M).
DELETE FROM analytics.crm_lead_deletions q
WHERE (q.lead_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lead_attribution la WHERE la.lead_id = q.lead_id))
   OR (q.lead_id IS NULL AND q.ctid = ANY (%(truncations_seen)s::tid[]));

-- step: quarantine_clear_full
DELETE FROM quarantine WHERE stage = 'lead_attribution';

-- step: quarantine_clear_changed
DELETE FROM quarantine q
USING _la_changed c
WHERE q.stage = 'lead_attribution' AND q.source_ref = 'crm_raw.leads/' || c.lead_id;

-- step: leads
-- The scope placeholder is empty on a full rebuild, else it restricts to the changed leads.
-- The attributed fields of each live changed lead, in one pass over its touchpoints. touchpoints keeps
-- the CRM's valid touchpoints as sent (rebuilt without the rejected ones only when some are rejected);
-- the rejected ones are kept with their reason for the quarantine. A touch is rejected only when it cannot be
-- a touch (not an object, no timestamp, one that does not parse or is in the future), never for its channel
-- label (docs/contracts.md#touchpoints-and-channels).
CREATE TEMP TABLE _la_new ON COMMIT DROP AS
SELECT l.organization_id, l.id AS lead_id,
       coalesce(nullif(btrim(l.campaign_id), ''),
                '(' || analytics.normalise_source(l.utm_source, l.gclid, l.fbclid) || ')') AS campaign_id,
       nullif(btrim(l.ad_id), '') AS ad_id,
       nullif(btrim(l.ad_set_id), '') AS ad_set_id,
       analytics.normalise_source(l.utm_source, l.gclid, l.fbclid) AS source,
       lower(nullif(btrim(l.utm_medium), '')) AS medium,
       l.utm_campaign, l.utm_content, l.utm_term,
       CASE WHEN jsonb_typeof(l.touchpoints) IS DISTINCT FROM 'array' THEN NULL
            WHEN p.rejected IS NULL THEN l.touchpoints
            ELSE (SELECT coalesce(jsonb_agg(e.t ORDER BY e.ord), '[]'::jsonb)
                  FROM jsonb_array_elements(l.touchpoints) WITH ORDINALITY AS e (t, ord)
                  WHERE NOT p.rejected @> jsonb_build_array(jsonb_build_object('touch_index', e.ord - 1)))
       END AS touchpoints,
       coalesce(p.first_touch, l.created_at) AT TIME ZONE 'UTC' AS first_touch,
       coalesce(p.last_touch, l.created_at) AT TIME ZONE 'UTC' AS last_touch,
       l.created_at AT TIME ZONE 'UTC' AS conversion_date,
       p.rejected,
       CASE WHEN jsonb_typeof(l.touchpoints) NOT IN ('array', 'null') THEN l.touchpoints END AS not_an_array
FROM crm_raw.leads l
LEFT JOIN LATERAL (
    SELECT min(v.ts) AS first_touch,
           max(v.ts) AS last_touch,
           jsonb_agg(jsonb_build_object('touch_index', v.touch_index, 'reason', v.reason, 'touchpoint', v.t))
               FILTER (WHERE v.reason IS NOT NULL) AS rejected
    FROM (
        SELECT k.touch_index, k.t, k.reason, CASE WHEN k.reason IS NULL THEN k.ts END AS ts
        FROM (
            SELECT p.*,
                   CASE
                       WHEN p.kind <> 'object' THEN 'touchpoint is not a JSON object'
                       WHEN p.ts_kind IS NULL OR p.ts_kind = 'null' THEN 'touchpoint has no timestamp'
                       WHEN p.ts IS NULL THEN 'touchpoint timestamp does not parse'
                       WHEN p.ts > now() THEN 'touchpoint timestamp is in the future'
                   END AS reason
            FROM (
                -- The timestamp is parsed once: a string that starts like a date and parses (no error raised).
                SELECT r.*,
                       CASE WHEN r.ts_kind = 'string' AND r.ts_text ~ '^\d{4}-\d{2}-\d{2}'
                                 AND analytics.is_timestamptz(r.ts_text)
                            THEN r.ts_text::timestamptz END AS ts
                FROM (
                    SELECT e.ord::int - 1 AS touch_index, e.t, jsonb_typeof(e.t) AS kind,
                           jsonb_typeof(e.t -> 'timestamp') AS ts_kind, e.t ->> 'timestamp' AS ts_text
                    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(l.touchpoints) = 'array' THEN l.touchpoints END)
                         WITH ORDINALITY AS e (t, ord)
                    OFFSET 0
                ) r
                OFFSET 0
            ) p
            OFFSET 0
        ) k
    ) v
) p ON true
WHERE l.deleted_at IS NULL {scope};

-- step: quarantine_insert
-- Qualified: a part of the parallel rebuild writes it into its stage (Transform.run's `tables`).
INSERT INTO public.quarantine (stage, source_ref, reason, payload)
SELECT 'lead_attribution', 'crm_raw.leads/' || n.lead_id, r ->> 'reason',
       jsonb_build_object('lead_id', n.lead_id, 'touch_index', r -> 'touch_index', 'touchpoint', r -> 'touchpoint')
FROM _la_new n
CROSS JOIN LATERAL jsonb_array_elements(n.rejected) AS r
WHERE n.rejected IS NOT NULL
UNION ALL
SELECT 'lead_attribution', 'crm_raw.leads/' || n.lead_id, 'touchpoints is not a JSON array',
       jsonb_build_object('lead_id', n.lead_id, 'touchpoints', n.not_an_array)
FROM _la_new n
WHERE n.not_an_array IS NOT NULL;

-- step: organizations
-- lead_attribution.organization_id references organizations: create a placeholder for unknown ones.
INSERT INTO organizations (id, name, slug)
SELECT DISTINCT organization_id, 'Organization ' || organization_id, 'org-' || organization_id
FROM _la_new n
WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = n.organization_id)
ON CONFLICT DO NOTHING;

-- step: campaign_window
-- Platform CPA and ROAS of the lead's campaign over the 7 days ending on the conversion date. The distinct
-- (campaign, day) keys are counted first (ANALYZE), so a few thousand keys probe the metrics' index instead
-- of a merge join sorting every metric row (unanalysed, the planner expected 100 k keys: 0.3-0.5 s of each
-- incremental run at 730 k metric rows).
CREATE TEMP TABLE _la_days ON COMMIT DROP AS
SELECT DISTINCT organization_id, campaign_id, conversion_date::date AS day FROM _la_new;
ANALYZE _la_days;
CREATE TEMP TABLE _la_cpa ON COMMIT DROP AS
SELECT k.organization_id, k.campaign_id, k.day,
       sum(m.spend) / nullif(sum(m.conversions), 0) AS cpa,
       sum(m.conversion_value) / nullif(sum(m.spend), 0) AS roas
FROM _la_days k
JOIN campaign_metrics m
  ON m.organization_id = k.organization_id AND m.campaign_id = k.campaign_id
 AND m.date BETWEEN k.day - 6 AND k.day
GROUP BY k.organization_id, k.campaign_id, k.day;
-- Statistics, so the join to 1 M new rows hashes these few thousand (unanalysed, the planner merge-joined:
-- an external sort of every lead by campaign text, 6 s of the full rebuild at 1 M leads).
ANALYZE _la_cpa;

-- step: cpa_hashed
-- The new rows meet their campaign's CPA by hash, never by a merge join: the planner costs a sort of the rows that
-- fit in work_mem as cheap, but each comparison is a text comparison under the database's collation on a wide
-- row. A part of a parallel rebuild at 1M leads (500 k rows) merge-joined: its insert took 4.1-4.2 s, hashed
-- 1.1 s (one session's 1M rows, hashed: 3.5-3.9 s). Set until `planner_defaults`.
SET LOCAL enable_mergejoin = off;

-- step: planner_defaults
SET LOCAL enable_mergejoin TO DEFAULT;

-- step: delete_gone
DELETE FROM lead_attribution
WHERE lead_id = ANY ((SELECT array_agg(lead_id) FROM _la_changed WHERE NOT live)::uuid[]);

-- step: truncate
TRUNCATE lead_attribution;

-- step: insert
-- The plain load of a full rebuild into the truncated table (its indexes are rebuilt afterwards); `upsert` is
-- this statement with ON CONFLICT.
-- The row id is the lead's id (unique as lead_id is): stable across full rebuilds, and free, where the
-- column default gen_random_uuid() cost 3.4 s per million rows on the development machine (one getrandom
-- call each).
-- numeric(10, 2) holds |x| < 1e8; a larger CPA/ROAS (a near-zero denominator) is stored as NULL.
INSERT INTO public.lead_attribution (id, organization_id, lead_id, campaign_id, ad_id, ad_set_id, source, medium,
                              utm_campaign, utm_content, utm_term, cpa_at_conversion, roas, touchpoints,
                              first_touch, last_touch, conversion_date, created_at)
SELECT n.lead_id, n.organization_id, n.lead_id, n.campaign_id, n.ad_id, n.ad_set_id, n.source, n.medium,
       n.utm_campaign, n.utm_content, n.utm_term,
       CASE WHEN abs(p.cpa) < 1e8 THEN round(p.cpa, 2) END,
       CASE WHEN abs(p.roas) < 1e8 THEN round(p.roas, 2) END,
       n.touchpoints, n.first_touch, n.last_touch, n.conversion_date,
       now() AT TIME ZONE 'UTC'
FROM _la_new n
LEFT JOIN _la_cpa p
  ON p.organization_id = n.organization_id AND p.campaign_id = n.campaign_id
 AND p.day = n.conversion_date::date;

-- step: added
-- The new rows among those the upsert below writes (the others replace a stored row): with the deleted
-- ones, they keep the table's row count (attribution_state.lead_rows) without counting the table.
-- Probed by lead_id, one lookup per row (the LIMIT keeps the join a nested loop): over the partitioned table
-- (migration 1808) the planner hashed every stored row instead, 0.5 s against 0.1 s for 11k rows at 1M leads.
CREATE TEMP TABLE _la_added ON COMMIT DROP AS
SELECT n.lead_id FROM _la_new n
LEFT JOIN LATERAL (SELECT true AS stored FROM lead_attribution la WHERE la.lead_id = n.lead_id LIMIT 1) s ON true
WHERE s.stored IS NULL;

-- step: upsert
-- The rows of the live changed leads (or of a part), replaced in place.
{step:insert}
ON CONFLICT (lead_id) DO UPDATE
SET organization_id = excluded.organization_id, campaign_id = excluded.campaign_id, ad_id = excluded.ad_id,
    ad_set_id = excluded.ad_set_id, source = excluded.source, medium = excluded.medium,
    utm_campaign = excluded.utm_campaign, utm_content = excluded.utm_content, utm_term = excluded.utm_term,
    cpa_at_conversion = excluded.cpa_at_conversion, roas = excluded.roas, touchpoints = excluded.touchpoints,
    first_touch = excluded.first_touch, last_touch = excluded.last_touch,
    conversion_date = excluded.conversion_date;

-- step: log_changes
INSERT INTO analytics.lead_attribution_changes (run_id, lead_id, deleted)
SELECT %(run_id)s, lead_id, NOT live FROM _la_changed;

-- step: deal_quarantine_clear
DELETE FROM quarantine q
USING crm_raw.deals d
WHERE q.stage = 'lead_attribution' AND q.source_ref = 'crm_raw.deals/' || d.id
  AND d._synced_at > coalesce(%(deals_wm)s, '-infinity'::timestamptz);

-- step: deal_quarantine_insert
-- Deals synced since the watermark that cannot count: negative amount, or a lead that does not exist.
-- Qualified: a part of the parallel rebuild writes it into its stage. There it reads the parts' snapshot, older
-- than the refresh's: a deal synced after it is stamped after the refresh's horizon, so the deals' watermark
-- leaves it to the next refresh.
INSERT INTO public.quarantine (stage, source_ref, reason, payload)
SELECT 'lead_attribution', 'crm_raw.deals/' || d.id,
       CASE WHEN d.amount < 0 THEN 'negative deal amount'
            ELSE 'deal refers to a lead that does not exist' END,
       jsonb_build_object('deal_id', d.id, 'lead_id', d.lead_id, 'stage', d.stage, 'amount', d.amount)
FROM crm_raw.deals d
WHERE d._synced_at > coalesce(%(deals_wm)s, '-infinity'::timestamptz)
  AND d.deleted_at IS NULL
  AND (d.amount < 0
       OR (d.lead_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM crm_raw.leads l WHERE l.id = d.lead_id)))
  {scope};

-- step: counts_full
SELECT (SELECT count(*) FROM _la_new)                AS recomputed,
       0                                             AS removed,
       (SELECT count(*) FROM _outcome_diff)          AS outcomes_changed,
       (SELECT count(*) FROM lead_attribution)       AS row_count;

-- step: counts
-- The row count is kept by the refresh (attribution_state.lead_rows: + added - deleted), not counted here.
SELECT (SELECT count(*) FROM _la_changed WHERE live)     AS recomputed,
       (SELECT count(*) FROM _la_changed WHERE NOT live) AS removed,
       (SELECT count(*) FROM _outcome_diff)              AS outcomes_changed;

-- step: row_count
-- Once, when the kept count is not known (a BI migrated before 1912).
SELECT count(*) FROM lead_attribution;

-- A row belongs to the part that rebuilds its live lead (a lead moved to another organization included),
-- else, its lead gone, to the part of the organization and range it was stored under: no row is written by
-- two parts, so parts never wait on (or fail a serialisable check against) each other.

-- step: delete_gone_leads
-- Rows of leads deleted (or soft-deleted) in the CRM; the live ones are replaced by the upsert.
DELETE FROM lead_attribution la
WHERE la.organization_id = ANY (%(organizations)s::uuid[])
  AND la.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid
  AND NOT EXISTS (SELECT 1 FROM crm_raw.leads l WHERE l.id = la.lead_id AND l.deleted_at IS NULL);

-- step: safe_horizon
-- The newest _synced_at that is safe to store as a watermark: no transaction still open (which may commit rows
-- stamped with its start time, default now()) started at or before it.
SELECT least(now(), min(xact_start)) - interval '1 microsecond' AS horizon
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL;

-- The steps of one organization's rebuild. Parameters: organization (uuid), run_id (bigint).

-- step: organization_gone
-- Its stored rows whose lead is deleted (or soft-deleted): the part's delete_gone_leads removes them; the log
-- records them.
CREATE TEMP TABLE _org_gone ON COMMIT DROP AS
SELECT la.lead_id
FROM lead_attribution la
WHERE la.organization_id = %(organization)s::uuid
  AND NOT EXISTS (SELECT 1 FROM crm_raw.leads l WHERE l.id = la.lead_id AND l.deleted_at IS NULL);

-- step: organization_quarantine_clear
-- The quarantined touchpoints of its leads, stored or in the CRM (the part quarantines the live ones again).
DELETE FROM quarantine q
WHERE q.stage = 'lead_attribution'
  AND q.source_ref IN (SELECT 'crm_raw.leads/' || l.id FROM crm_raw.leads l
                       WHERE l.organization_id = %(organization)s::uuid
                       UNION ALL
                       SELECT 'crm_raw.leads/' || la.lead_id FROM lead_attribution la
                       WHERE la.organization_id = %(organization)s::uuid);

-- step: organization_won
-- The outcomes of its leads, as `won` computes every lead's.
CREATE TEMP TABLE _org_won ON COMMIT DROP AS
SELECT d.lead_id,
       count(*)::int                              AS won_deals,
       coalesce(sum(d.amount), 0)::numeric(18, 2) AS won_revenue,
       min(coalesce(d.closed_at, d.updated_at))   AS first_won_at
FROM crm_raw.deals d
JOIN crm_raw.leads l ON l.id = d.lead_id AND l.organization_id = %(organization)s::uuid
WHERE d.stage = 'won' AND d.deleted_at IS NULL AND (d.amount IS NULL OR d.amount >= 0)
GROUP BY d.lead_id;

-- step: organization_outcomes_delete
DELETE FROM analytics.lead_outcomes o
USING crm_raw.leads l
WHERE o.lead_id = l.id AND l.organization_id = %(organization)s::uuid
  AND NOT EXISTS (SELECT 1 FROM _org_won w WHERE w.lead_id = o.lead_id);

-- step: organization_outcomes_upsert
-- Only the outcomes that differ are written (the others keep their run_id, as after `outcomes`).
INSERT INTO analytics.lead_outcomes AS o (lead_id, won_deals, won_revenue, first_won_at, run_id)
SELECT lead_id, won_deals, won_revenue, first_won_at, %(run_id)s
FROM _org_won
ON CONFLICT (lead_id) DO UPDATE
SET won_deals = excluded.won_deals, won_revenue = excluded.won_revenue,
    first_won_at = excluded.first_won_at, run_id = excluded.run_id
WHERE (o.won_deals, o.won_revenue, o.first_won_at)
      IS DISTINCT FROM (excluded.won_deals, excluded.won_revenue, excluded.first_won_at);

-- step: organization_log
-- Its recomputed and removed leads, for the correlation refresh (and the next credits refresh, which finds
-- their credits already current: recomputing them again is idempotent).
INSERT INTO analytics.lead_attribution_changes (run_id, lead_id, deleted)
SELECT %(run_id)s, lead_id, false FROM _la_new
UNION ALL
SELECT %(run_id)s, lead_id, true FROM _org_gone;
