-- Multi-touch attribution credits (docs/contracts.md#attribution-contract), set-based, run step by step in one
-- transaction by hyperdash_pipeline.attribution.refresh. Stored one row per lead x touch with every model's
-- credit in its own column (analytics.attribution_touch_credits, migration 0205); the contract relation is
-- the view analytics.attribution_credits. A model not configured gets NULL (the view leaves it out).
-- Parameters: full (bool), since_run_id (bigint), lookback (interval), half_life_days (float8),
-- collapse (bool), models (text[]).
-- One organization's rebuild (plan `part`) also gets organizations (uuid[]), low, high (uuid); a part of a parallel
-- full rebuild (plan `stage_part`, attribution/parallel.py) gets low_lead, high_lead (uuid); it writes its own stage
-- tables (attribution/staging.py): its paths, campaign totals and transitions are read from its own stage of the
-- credits, which holds only its leads (no filter: filtering them again by the part's blocks cost ~1 s a part at
-- 1M leads), and the load adds the totals and transitions up.
--
-- plan changed: changed changed_index
-- plan rebuild_prepare: truncate
-- plan rebuild_load: insert
-- plan rebuild_finish: credit_totals_full paths_truncate
-- plan update: delete_changed insert[changed_credits] paths_delete_changed
-- plan paths_incremental: paths_insert[changed_paths] paths_delta_new transitions_apply[path_delta] transitions_prune unmapped_clear unmapped_channels prune_log
-- plan paths_full: paths_insert transitions_apply[all_paths] transitions_prune unmapped_clear unmapped_channels prune_log
-- plan part: defer_totals regroup_flag delete_credits delete_gone_credits delete_paths delete_gone_paths insert[part_credits] paths_insert[part_paths]
-- plan stage_part: insert[part_lead_range] paths_insert credit_totals_full transitions_apply[all_paths]
-- plan staged_paths_prepare: paths_truncate
-- plan staged_finish: transitions_prune unmapped_clear unmapped_channels prune_log
-- plan regroup_take: regroup_queue
-- plan regroup: regroup_paths credit_totals_clear[regroup] credit_totals_full[regroup] transitions_clear[regroup] transitions_apply[regroup_paths] transitions_prune[regroup] unmapped_clear[regroup] unmapped_channels[regroup]
-- plan organization_finish: credit_totals_clear[organization] credit_totals_full[organization] organization_paths transitions_clear[organization] transitions_apply[organization_paths] transitions_prune[organization] unmapped_clear[organization] unmapped_channels[organization]
-- = ANY (array) keeps the plan on the lead_id indexes (a join would scan the whole table).
-- scope changed_credits: AND la.lead_id = ANY ((SELECT array_agg(lead_id) FROM _ac_changed)::uuid[])
-- scope changed_paths: AND c.lead_id = ANY ((SELECT array_agg(lead_id) FROM _ac_changed)::uuid[])
-- The path deltas: the incremental ones, or on a full rebuild every stored path, counted once.
-- scope path_delta: _path_delta
-- scope all_paths: (SELECT p.*, 1 AS delta FROM analytics.attribution_paths AS p)
-- A part of a parallel full rebuild: the attributed leads of a range of lead ids.
-- scope part_lead_range: AND la.lead_id BETWEEN %(low_lead)s::uuid AND %(high_lead)s::uuid
-- One organization's attributed leads (the credits of a lead moved away are still stored under the old organization until
-- its new organization's part replaces them).
-- scope part_credits: AND la.organization_id = ANY (%(organizations)s::uuid[]) AND la.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid
-- scope part_paths: AND c.lead_id IN (SELECT la.lead_id FROM lead_attribution la WHERE la.organization_id = ANY (%(organizations)s::uuid[]) AND la.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid)
-- One organization's rebuild (attribution/organization.py): after its part, that organization's totals,
-- transitions and unmapped labels regrouped from its own rows, no other organization's row touched.
-- scope organization: AND organization_id = ANY (%(organizations)s::uuid[])
-- scope organization_paths: _org_path_delta
-- Organizations a rebuild of another one took leads from (migration 1913), regrouped by the next refresh.
-- scope regroup: AND organization_id = ANY ((SELECT array_agg(organization_id) FROM _regroup)::uuid[])
-- scope regroup_paths: _regroup_path_delta

-- step: changed
-- Leads recomputed by lead_attribution since the last credits run (empty and unused on a full run).
CREATE TEMP TABLE _ac_changed ON COMMIT DROP AS
SELECT DISTINCT lead_id
FROM analytics.lead_attribution_changes
WHERE NOT %(full)s AND run_id > %(since_run_id)s;

-- step: changed_index
CREATE UNIQUE INDEX ON _ac_changed (lead_id);
ANALYZE _ac_changed;

-- step: delete_changed
-- = ANY(array) keeps the plan on the primary key (a join would scan every credit row).
DELETE FROM analytics.attribution_touch_credits
WHERE lead_id = ANY ((SELECT array_agg(lead_id) FROM _ac_changed)::uuid[]);

-- step: truncate
TRUNCATE analytics.attribution_touch_credits;

-- step: insert
-- The scope placeholder is empty on a full rebuild, else a filter to the changed leads (a join, not a scan).
-- Path = valid touchpoints in [conversion - lookback, conversion], oldest first (ties broken by content,
-- so the result does not depend on the stored order); a lead without one gets its own touch at conversion.
-- The path's text columns carry collation "C" themselves (byte order, whatever the database's collation), so
-- the windows sort on them directly: ORDER BY x COLLATE "C" would add a copy of each to every sorted row
-- (0.6 s of the full rebuild at 2.3 M touches).
INSERT INTO analytics.attribution_touch_credits (
    organization_id, lead_id, touch_index, channel, campaign_id, ad_id,
    first_touch, last_touch, linear, position_based, time_decay,
    first_touch_revenue, last_touch_revenue, linear_revenue, position_based_revenue, time_decay_revenue,
    channel_raw, touches)
WITH channel_map AS (
    -- analytics.channel_map as two lookups: the default aliases, and each organization's own (which win).
    SELECT coalesce(jsonb_object_agg(alias, channel_group) FILTER (WHERE organization_id IS NULL), '{}')
               AS defaults,
           coalesce((SELECT jsonb_object_agg(o.organization_id, o.aliases)
                     FROM (SELECT organization_id::text, jsonb_object_agg(alias, channel_group) AS aliases
                           FROM analytics.channel_map WHERE organization_id IS NOT NULL
                           GROUP BY organization_id) o), '{}') AS by_org
    FROM analytics.channel_map
), path AS (
    -- The channel (docs/attribution.md#channels): a named label, mapped or else kept normalised; without
    -- one, derived from the touch's click ids, medium and source, else its source as a label, else
    -- 'unassigned'. The lead's own touch (no touch in the window) derives from the lead's utm fields; a lead
    -- deleted from the mirror since lead_attribution's refresh has none and is 'unassigned' until that refresh
    -- removes it (a NULL channel would fail the Markov transitions' NOT NULL).
    SELECT la.organization_id, la.lead_id, la.conversion_date AS conv,
           coalesce(t.ts, la.conversion_date) AS ts,
           t.ts IS NULL AS own,
           t.channel_raw,
           ch.channel,
           CASE WHEN t.ts IS NULL THEN la.campaign_id
                ELSE coalesce(t.campaign_id, '(' || ch.channel || ')') END COLLATE "C"
               AS campaign_id,
           CASE WHEN t.ts IS NULL THEN la.ad_id ELSE t.ad_id END COLLATE "C" AS ad_id
    FROM lead_attribution la
    CROSS JOIN channel_map cm
    LEFT JOIN LATERAL (
        -- lead_attribution keeps validated touchpoints: objects whose timestamp parses.
        SELECT *
        FROM (
            SELECT (e ->> 'timestamp')::timestamptz AT TIME ZONE 'UTC' AS ts,
                   e ->> 'channel' AS channel_raw,
                   analytics.normalise_channel(e ->> 'channel') AS label,
                   coalesce(e ->> 'source', e ->> 'utm_source') AS source,
                   coalesce(e ->> 'medium', e ->> 'utm_medium') AS medium,
                   e ->> 'gclid' AS gclid, e ->> 'fbclid' AS fbclid,
                   nullif(e ->> 'campaign_id', '') AS campaign_id, nullif(e ->> 'ad_id', '') AS ad_id
            FROM jsonb_array_elements(CASE WHEN jsonb_typeof(la.touchpoints) = 'array' THEN la.touchpoints END) AS e
            OFFSET 0
        ) parsed
        WHERE parsed.ts <= la.conversion_date AND parsed.ts >= la.conversion_date - %(lookback)s::interval
    ) t ON true
    CROSS JOIN LATERAL (
        SELECT CASE WHEN t.ts IS NULL THEN
                    coalesce((SELECT coalesce(analytics.derive_channel(l.utm_source, l.utm_medium, l.gclid, l.fbclid),
                                              analytics.channel_group_of(analytics.normalise_channel(l.utm_source),
                                                                         cm.by_org -> la.organization_id::text,
                                                                         cm.defaults),
                                              'unassigned')
                              FROM crm_raw.leads l WHERE l.id = la.lead_id),
                             'unassigned')
                ELSE coalesce(analytics.channel_group_of(t.label, cm.by_org -> la.organization_id::text, cm.defaults),
                              t.label,
                              analytics.derive_channel(t.source, t.medium, t.gclid, t.fbclid),
                              analytics.channel_group_of(analytics.normalise_channel(t.source),
                                                         cm.by_org -> la.organization_id::text, cm.defaults),
                              'unassigned')
               END COLLATE "C" AS channel
    ) ch
    WHERE true {scope}
), ordered AS (
    SELECT p.*,
           lag(p.channel) OVER w AS prev_channel,
           lag(p.campaign_id) OVER w AS prev_campaign,
           row_number() OVER w AS rn,
           count(*) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS path_touches
    FROM path p
    WINDOW w AS (PARTITION BY p.lead_id ORDER BY p.ts, p.channel, p.campaign_id, p.ad_id)
), collapsed AS (
    SELECT o.*
    FROM ordered o
    WHERE NOT %(collapse)s OR o.rn = 1
       OR (o.channel, o.campaign_id) IS DISTINCT FROM (o.prev_channel, o.prev_campaign)
), decayed AS (
    -- Time-decay weight 2^(-age / half_life). Ages are at most the lookback, which CreditSettings caps at
    -- 1000 half-lives, so no weight underflows (2^-1000 ~ 1e-301) and no shift by the newest touch is needed:
    -- the shares below come out of the same window pass as the positions.
    SELECT c.*, power(2.0::float8, -(extract(epoch FROM c.conv - c.ts)::float8 / 86400.0) / %(half_life_days)s) AS w
    FROM collapsed c
), numbered AS (
    -- Same window order as above, so no second sort; one window pass: its frame spans the whole lead.
    -- touches: the CRM touches this one stands for, up to the next kept one (collapsed repeats included).
    SELECT c.organization_id, c.lead_id, c.channel, c.campaign_id, c.ad_id, c.channel_raw,
           CASE WHEN c.own THEN 0 ELSE coalesce(lead(c.rn) OVER w, c.path_touches + 1) - c.rn END AS touches,
           (row_number() OVER w - 1)::int AS idx,
           count(*) OVER w AS n,
           c.w / sum(c.w) OVER w AS decay_share
    FROM decayed c
    WINDOW w AS (PARTITION BY c.lead_id ORDER BY c.ts, c.channel, c.campaign_id, c.ad_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
), credited AS (
    -- One column per model; `'model' = ANY(models)` is folded to a constant by the planner.
    SELECT x.organization_id, x.lead_id, x.idx, x.channel, x.campaign_id, x.ad_id, x.channel_raw, x.touches,
           CASE WHEN 'first_touch' = ANY (%(models)s::text[]) THEN (x.idx = 0)::int::float8 END AS first_touch,
           CASE WHEN 'last_touch' = ANY (%(models)s::text[]) THEN (x.idx = x.n - 1)::int::float8 END AS last_touch,
           CASE WHEN 'linear' = ANY (%(models)s::text[]) THEN 1.0::float8 / x.n END AS linear,
           CASE WHEN 'position_based' = ANY (%(models)s::text[]) THEN
               CASE WHEN x.n = 1 THEN 1.0::float8
                    WHEN x.n = 2 THEN 0.5::float8
                    WHEN x.idx = 0 OR x.idx = x.n - 1 THEN 0.4::float8
                    ELSE 0.2::float8 / (x.n - 2) END
           END AS position_based,
           CASE WHEN 'time_decay' = ANY (%(models)s::text[]) THEN x.decay_share END AS time_decay,
           coalesce(o.won_revenue, 0) AS revenue
    FROM numbered x
    LEFT JOIN analytics.lead_outcomes o ON o.lead_id = x.lead_id
)
-- Revenue credit = credit x won revenue (0 without revenue: no numeric product for most leads).
SELECT c.organization_id, c.lead_id, c.idx, c.channel, c.campaign_id, c.ad_id,
       c.first_touch, c.last_touch, c.linear, c.position_based, c.time_decay,
       CASE WHEN c.first_touch IS NULL THEN NULL WHEN c.revenue = 0 THEN 0
            ELSE round(c.first_touch::numeric * c.revenue, 6) END,
       CASE WHEN c.last_touch IS NULL THEN NULL WHEN c.revenue = 0 THEN 0
            ELSE round(c.last_touch::numeric * c.revenue, 6) END,
       CASE WHEN c.linear IS NULL THEN NULL WHEN c.revenue = 0 THEN 0
            ELSE round(c.linear::numeric * c.revenue, 6) END,
       CASE WHEN c.position_based IS NULL THEN NULL WHEN c.revenue = 0 THEN 0
            ELSE round(c.position_based::numeric * c.revenue, 6) END,
       CASE WHEN c.time_decay IS NULL THEN NULL WHEN c.revenue = 0 THEN 0
            ELSE round(c.time_decay::numeric * c.revenue, 6) END,
       c.channel_raw, c.touches::int
FROM credited c;

-- step: credit_totals_full
-- After a full load (done with the per-statement totals trigger disabled): the totals per campaign, regrouped
-- once (migration 0302; the TRUNCATE before the load emptied them).
-- The scope placeholder: empty, or one organization's rows (organization_finish).
INSERT INTO analytics.campaign_credit_totals
SELECT organization_id, campaign_id, count(*),
       sum(first_touch), sum(last_touch), sum(linear), sum(position_based), sum(time_decay),
       sum(first_touch_revenue), sum(last_touch_revenue), sum(linear_revenue),
       sum(position_based_revenue), sum(time_decay_revenue)
FROM analytics.attribution_touch_credits
WHERE true {scope}
GROUP BY organization_id, campaign_id;

-- step: paths_delete_changed
-- Old paths of the recomputed leads leave the transition counts (delta -1).
CREATE TEMP TABLE _path_delta ON COMMIT DROP AS
WITH old AS (
    DELETE FROM analytics.attribution_paths p
    WHERE p.lead_id = ANY ((SELECT array_agg(lead_id) FROM _ac_changed)::uuid[])
    RETURNING p.*
)
SELECT old.*, -1 AS delta FROM old;

-- step: paths_truncate
TRUNCATE analytics.attribution_paths, analytics.markov_transitions;

-- step: paths_insert
-- New paths, read back from the stored touches (the scope placeholder keeps the changed leads, or is empty).
INSERT INTO analytics.attribution_paths (lead_id, organization_id, converted, channels, campaigns)
SELECT c.lead_id, c.organization_id, bool_or(o.lead_id IS NOT NULL),
       array_agg(c.channel ORDER BY c.touch_index), array_agg(c.campaign_id ORDER BY c.touch_index)
FROM analytics.attribution_touch_credits c
LEFT JOIN analytics.lead_outcomes o ON o.lead_id = c.lead_id
WHERE true {scope}
GROUP BY c.lead_id, c.organization_id;

-- step: paths_delta_new
-- Incremental: the new paths of the recomputed leads enter the transition counts (delta +1).
INSERT INTO _path_delta
SELECT p.*, 1 FROM analytics.attribution_paths p
WHERE p.lead_id = ANY ((SELECT array_agg(lead_id) FROM _ac_changed)::uuid[]);

-- step: transitions_apply
-- Each path adds (start) -> t1 -> ... -> tn -> (conversion) or (null), per dimension. Identical paths are
-- counted first and expanded once (most leads share their channel path: 1 M leads, ~15 k channel paths).
-- The scope placeholder is the relation of path deltas: _path_delta, or on a full rebuild every stored path
-- with delta 1 (copying 1 M paths into a temp table cost 5 s). Memoize is off for this statement: it would
-- cache the two-row VALUES per distinct pair of paths (470 k misses at 1 M leads, 170 MB) and cost a
-- quarter of the step (4.0 s -> 3.0 s on the full rebuild).
SET LOCAL enable_memoize = off;
INSERT INTO analytics.markov_transitions AS m (organization_id, dimension, from_state, to_state, transitions)
WITH paths AS (
    SELECT d.organization_id, d.converted, s.dimension, s.states, sum(d.delta)::bigint AS delta
    FROM {scope} d
    CROSS JOIN LATERAL (VALUES ('channel', d.channels), ('campaign', d.campaigns)) AS s (dimension, states)
    GROUP BY 1, 2, 3, 4
)
SELECT p.organization_id, p.dimension,
       CASE WHEN i = 1 THEN '(start)' ELSE p.states[i - 1] END,
       CASE WHEN i <= cardinality(p.states) THEN p.states[i]
            WHEN p.converted THEN '(conversion)' ELSE '(null)' END,
       sum(p.delta)::bigint
FROM paths p
CROSS JOIN LATERAL generate_series(1, cardinality(p.states) + 1) AS i
GROUP BY 1, 2, 3, 4
ON CONFLICT (organization_id, dimension, from_state, to_state)
DO UPDATE SET transitions = m.transitions + excluded.transitions;
SET LOCAL enable_memoize TO DEFAULT;

-- step: transitions_prune
DELETE FROM analytics.markov_transitions WHERE transitions = 0 {scope};

-- step: unmapped_clear
DELETE FROM analytics.unmapped_channels WHERE true {scope};

-- step: unmapped_channels
-- Labels no alias maps, with their touches: every credited touch leaves its state exactly once in the channel
-- chain, so the transition counts out of a state are its touches (a few thousand rows, not every credit).
INSERT INTO analytics.unmapped_channels (organization_id, channel, touches)
SELECT t.organization_id, t.from_state, sum(t.transitions)
FROM analytics.markov_transitions t
WHERE t.dimension = 'channel' AND t.from_state <> '(start)'
  AND NOT EXISTS (SELECT 1 FROM analytics.channel_groups g WHERE g.channel_group = t.from_state) {scope}
GROUP BY t.organization_id, t.from_state;

-- step: channel_map_digest
-- A fingerprint of analytics.channel_map: an edit changes it, and the next refresh recomputes every credit.
SELECT md5(coalesce(string_agg(concat_ws('|', organization_id, alias, channel_group), ','
                               ORDER BY organization_id NULLS FIRST, alias), ''))
FROM analytics.channel_map;

-- step: prune_log
-- The log is consumed: drop entries up to the run this refresh read, but none the correlation refresh has
-- not read yet (analytics.correlation_state; without a row there, it rebuilds in full on its first run).
DELETE FROM analytics.lead_attribution_changes
WHERE run_id <= least(%(upto_run_id)s,
                      coalesce((SELECT lead_run_id FROM analytics.correlation_state), %(upto_run_id)s));

-- step: counts
-- The row count itself is kept by the refresh (attribution_state.credit_rows), not counted here.
SELECT CASE WHEN %(full)s THEN (SELECT count(*) FROM lead_attribution)
            ELSE (SELECT count(*) FROM _ac_changed) END AS leads_changed;

-- step: row_count
-- Rows of the contract view; only when no count was kept yet (the first incremental run after migration 0204).
SELECT count(*) FROM analytics.attribution_credits;

-- step: lost
-- An UNLOGGED table comes back empty after a crash: rows were counted but none are left.
SELECT NOT EXISTS (SELECT 1 FROM analytics.attribution_touch_credits);

-- One organization's rebuild in place (plan `part`, attribution/organization.py): a row belongs to the part that
-- rebuilds its attributed lead, else, its lead gone, to the part of the organization and range it was stored
-- under. (A parallel full rebuild writes stage tables instead: plan `stage_part`, attribution/staging.py.)

-- step: defer_totals
-- The part defers the per-statement campaign totals (migration 1201): organization_finish regroups them once.
SELECT set_config('hyperdash.credit_totals_deferred', 'on', true);

-- step: regroup_flag
-- Other organizations the part's leads are still credited under (they moved): their totals and transitions
-- are regrouped by the next refresh (plan `regroup`), as this rebuild writes no other organization's row.
INSERT INTO analytics.attribution_regroup (organization_id)
SELECT DISTINCT c.organization_id
FROM analytics.attribution_touch_credits c
WHERE c.lead_id IN (SELECT la.lead_id FROM lead_attribution la
                    WHERE la.organization_id = ANY (%(organizations)s::uuid[])
                      AND la.lead_id BETWEEN %(low)s::uuid AND %(high)s::uuid)
  AND c.organization_id <> ALL (%(organizations)s::uuid[]);

-- step: regroup_queue
-- The organizations queued by regroup_flag, consumed.
CREATE TEMP TABLE _regroup ON COMMIT DROP AS
WITH consumed AS (DELETE FROM analytics.attribution_regroup RETURNING organization_id)
SELECT DISTINCT organization_id FROM consumed;

-- step: regroup_paths
-- Their stored paths, each counted once into their transitions (transitions_apply's relation).
CREATE TEMP TABLE _regroup_path_delta ON COMMIT DROP AS
SELECT p.*, 1 AS delta FROM analytics.attribution_paths p
WHERE p.organization_id IN (SELECT organization_id FROM _regroup);

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
-- The part deferred the per-statement totals: regrouped once (credit_totals_full) after this.
DELETE FROM analytics.campaign_credit_totals WHERE true {scope};

-- step: organization_paths
-- One organization's stored paths, each counted once into its transitions (transitions_apply's relation).
CREATE TEMP TABLE _org_path_delta ON COMMIT DROP AS
SELECT p.*, 1 AS delta FROM analytics.attribution_paths p WHERE p.organization_id = ANY (%(organizations)s::uuid[]);

-- step: transitions_clear
DELETE FROM analytics.markov_transitions WHERE true {scope};
