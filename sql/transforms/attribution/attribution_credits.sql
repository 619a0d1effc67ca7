-- Multi-touch attribution credits (MISSION.md attribution contract), set-based, run step by step in one
-- transaction by hyperdash_pipeline.attribution.credits.
-- Parameters: full (bool), since_run_id (bigint), lookback (interval), half_life_days (float8),
-- collapse (bool), models (text[]).

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
DELETE FROM analytics.attribution_credits c
USING _ac_changed x
WHERE c.lead_id = x.lead_id;

-- step: truncate
TRUNCATE analytics.attribution_credits;

-- step: insert
-- Path = valid touchpoints in [conversion - lookback, conversion], oldest first (ties broken by content,
-- so the result does not depend on the stored order); a lead without one gets its own touch at conversion.
INSERT INTO analytics.attribution_credits (organization_id, lead_id, touch_index, channel, campaign_id, ad_id,
                                           model, credit, revenue_credit)
WITH leads AS (
    SELECT la.organization_id, la.lead_id, la.conversion_date AS conv, la.source, la.campaign_id, la.ad_id,
           la.touchpoints
    FROM lead_attribution la
    WHERE %(full)s OR la.lead_id IN (SELECT lead_id FROM _ac_changed)
), touches AS (
    SELECT l.organization_id, l.lead_id, l.conv, t.ts, t.channel,
           coalesce(t.campaign_id, '(' || t.channel || ')') AS campaign_id, t.ad_id
    FROM leads l
    CROSS JOIN LATERAL (
        SELECT (e ->> 'timestamp')::timestamptz AT TIME ZONE 'UTC' AS ts, e ->> 'channel' AS channel,
               e ->> 'campaign_id' AS campaign_id, e ->> 'ad_id' AS ad_id
        FROM jsonb_array_elements(coalesce(l.touchpoints, '[]'::jsonb)) AS e
    ) t
    WHERE t.ts <= l.conv AND t.ts >= l.conv - %(lookback)s::interval
), path AS (
    SELECT * FROM touches
    UNION ALL
    SELECT l.organization_id, l.lead_id, l.conv, l.conv, l.source, l.campaign_id, l.ad_id
    FROM leads l
    WHERE NOT EXISTS (SELECT 1 FROM touches t WHERE t.lead_id = l.lead_id)
), ordered AS (
    SELECT p.*,
           row_number() OVER w AS rn,
           lag(p.channel) OVER w AS prev_channel,
           lag(p.campaign_id) OVER w AS prev_campaign
    FROM path p
    WINDOW w AS (PARTITION BY p.lead_id ORDER BY p.ts, p.channel COLLATE "C", p.campaign_id COLLATE "C", p.ad_id COLLATE "C")
), collapsed AS (
    SELECT o.organization_id, o.lead_id, o.conv, o.ts, o.channel, o.campaign_id, o.ad_id, o.rn
    FROM ordered o
    WHERE NOT %(collapse)s OR o.rn = 1
       OR (o.channel, o.campaign_id) IS DISTINCT FROM (o.prev_channel, o.prev_campaign)
), numbered AS (
    SELECT c.*,
           (row_number() OVER w - 1)::int AS idx,
           count(*) OVER w2 AS n,
           extract(epoch FROM c.conv - c.ts) / 86400.0 AS age_days
    FROM collapsed c
    WINDOW w AS (PARTITION BY c.lead_id ORDER BY c.rn), w2 AS (PARTITION BY c.lead_id)
), weighted AS (
    -- 2^(-age/half_life), scaled so the newest touch weighs 1 (no underflow on long lookbacks).
    SELECT n.*,
           power(2.0::float8, -(n.age_days - min(n.age_days) OVER w)::float8 / %(half_life_days)s) AS w
    FROM numbered n
    WINDOW w AS (PARTITION BY n.lead_id)
), normalised AS (
    SELECT x.*, x.w / sum(x.w) OVER (PARTITION BY x.lead_id) AS decay_share
    FROM weighted x
), credited AS (
    SELECT x.organization_id, x.lead_id, x.idx, x.channel, x.campaign_id, x.ad_id, m.model,
           CASE m.model
               WHEN 'first_touch' THEN (x.idx = 0)::int::float8
               WHEN 'last_touch' THEN (x.idx = x.n - 1)::int::float8
               WHEN 'linear' THEN 1.0::float8 / x.n
               WHEN 'position_based' THEN
                   CASE WHEN x.n = 1 THEN 1.0::float8
                        WHEN x.n = 2 THEN 0.5::float8
                        WHEN x.idx = 0 OR x.idx = x.n - 1 THEN 0.4::float8
                        ELSE 0.2::float8 / (x.n - 2) END
               WHEN 'time_decay' THEN x.decay_share
           END AS credit
    FROM normalised x
    CROSS JOIN unnest(%(models)s::text[]) AS m (model)
)
SELECT c.organization_id, c.lead_id, c.idx, c.channel, c.campaign_id, c.ad_id, c.model, c.credit,
       round(c.credit::numeric * coalesce(o.won_revenue, 0), 6)
FROM credited c
LEFT JOIN analytics.lead_outcomes o ON o.lead_id = c.lead_id;

-- step: prune_log
-- The log is consumed: drop entries up to the run this refresh read.
DELETE FROM analytics.lead_attribution_changes WHERE run_id <= %(upto_run_id)s;

-- step: counts
SELECT CASE WHEN %(full)s THEN (SELECT count(*) FROM lead_attribution)
            ELSE (SELECT count(*) FROM _ac_changed) END          AS leads_changed,
       (SELECT count(*) FROM analytics.attribution_credits) AS row_count;
