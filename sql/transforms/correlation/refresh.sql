-- Refresh (full or incremental) of the two sides the correlation tables are grouped from (migration 0302),
-- run step by step in one REPEATABLE READ transaction by hyperdash_pipeline.correlation.refresh.
-- Parameters: since_run_id, upto_run_id (bigint): the lead_attribution runs whose changes to take.
--
-- plan leads_clear: leads_truncate
-- plan leads_load: leads_load
-- plan leads_totals: lead_totals_full
-- plan spend_regroup: spend_full
-- plan spend_queued: spend_delta
-- plan incremental: changed lead_delta lead_totals_apply spend_delta touched_campaigns
-- plan sides_all: base names save_state
-- plan sides_touched: base[touched_campaigns] names[touched_campaigns] save_state
-- The campaigns an incremental refresh rebuilds (the campaign row, its creatives and its weeks):
-- scope touched_campaigns: AND (s.organization_id, s.source, s.campaign_id) IN (SELECT organization_id, source, campaign_id FROM _cr_campaigns)
--
-- Lead side, per live attributed lead (a row of lead_attribution, which holds exactly the live CRM leads):
--   leads     = 1 per lead
--   customers = 1 when the lead has at least one live won deal (analytics.lead_outcomes: deals of a negative
--               amount are quarantined by lead_attribution and do not count)
--   revenue   = the sum of those won deals' amounts (a won deal without an amount counts as 0)
-- FX JOIN POINT (revenue): amounts are summed in crm_raw.deals.currency as stored; convert them in
-- lead_attribution's `won` step once fx_rates(date, currency, rate) exists.
-- Spend side: campaign_metrics summed per currency at grain 'creative' = (organization, source, campaign,
-- ad) and 'week' = (organization, source, campaign, Monday of the metric date's week); each grain holds every
-- unit of spend exactly once.
-- FX JOIN POINT (spend): spend and conversion_value are summed in campaign_metrics.currency as stored. Once
-- fx_rates exists, convert in spend_full and in analytics.queue_campaign_metrics_deltas(): every correlation
-- table reads spend through those two.

-- step: state
SELECT lead_run_id, leads_present FROM analytics.correlation_state;

-- step: leads_lost
-- UNLOGGED: crash recovery empties the table; the refresh then rebuilds in full.
SELECT NOT EXISTS (SELECT 1 FROM analytics.correlation_leads);

-- step: metrics_truncated
SELECT EXISTS (SELECT 1 FROM analytics.campaign_metrics_deltas WHERE grain = 'reset');

-- step: leads_truncate
TRUNCATE analytics.correlation_leads, analytics.correlation_lead_totals;

-- step: leads_load
-- Full refresh: every lead's contribution (bulk-loaded: the primary key is rebuilt afterwards).
INSERT INTO analytics.correlation_leads
    (lead_id, organization_id, source, campaign_id, ad_id, week_start, is_customer, revenue)
SELECT la.lead_id, la.organization_id, coalesce(la.source, 'organic'), la.campaign_id, la.ad_id,
       date_trunc('week', la.conversion_date)::date, o.lead_id IS NOT NULL, coalesce(o.won_revenue, 0)
FROM public.lead_attribution AS la
LEFT JOIN analytics.lead_outcomes AS o ON o.lead_id = la.lead_id;

-- step: lead_totals_full
INSERT INTO analytics.correlation_lead_totals
    (organization_id, source, campaign_id, ad_id, week_start, grain, leads, customers, revenue)
SELECT organization_id, source, campaign_id, ad_id, week_start,
       CASE WHEN GROUPING(ad_id) = 0 THEN 'creative' ELSE 'week' END,
       count(*), count(*) FILTER (WHERE is_customer), sum(revenue)
FROM analytics.correlation_leads
GROUP BY organization_id, source, campaign_id, GROUPING SETS ((ad_id), (week_start));

-- step: spend_full
-- When asked, or after campaign_metrics was truncated; otherwise the totals plus the queued deltas are
-- already exact (migration 0302) and a full refresh applies the queue like an incremental one.
-- Every delta queued so far (visible to this snapshot) is already in campaign_metrics as this snapshot sees it.
TRUNCATE analytics.correlation_spend_totals;
DELETE FROM analytics.campaign_metrics_deltas;
INSERT INTO analytics.correlation_spend_totals
    (organization_id, source, campaign_id, ad_id, week_start, grain, currency, metric_rows, spend, impressions,
     clicks, conversions, conversion_value, video_3s_views, thruplays)
SELECT organization_id, source, campaign_id, ad_id, week_start,
       CASE WHEN GROUPING(ad_id) = 0 THEN 'creative' ELSE 'week' END, currency,
       count(*), sum(spend), sum(impressions), sum(clicks), sum(conversions), sum(conversion_value),
       sum(video_3s_views), sum(thruplays)
FROM (
    SELECT organization_id, source, campaign_id, ad_id, currency::text AS currency,
           date_trunc('week', date::timestamp)::date AS week_start,
           spend, impressions, clicks, conversions, conversion_value, video_3s_views, thruplays
    FROM public.campaign_metrics
) AS metric
GROUP BY organization_id, source, campaign_id, currency, GROUPING SETS ((ad_id), (week_start));

-- step: changed
-- Incremental: the leads lead_attribution recomputed since the last refresh.
CREATE TEMP TABLE _cr_changed ON COMMIT DROP AS
SELECT DISTINCT lead_id
FROM analytics.lead_attribution_changes
WHERE run_id > %(since_run_id)s AND run_id <= %(upto_run_id)s;

-- step: lead_delta
-- They leave with their old contribution (sign -1) and come back with their new one (+1); a deleted lead
-- only leaves.
CREATE TEMP TABLE _cr_lead_delta ON COMMIT DROP AS
WITH old AS (
    DELETE FROM analytics.correlation_leads
    WHERE lead_id = ANY ((SELECT array_agg(lead_id) FROM _cr_changed)::uuid[])
    RETURNING *
)
SELECT old.*, -1 AS sign FROM old;
WITH new AS (
    INSERT INTO analytics.correlation_leads
        (lead_id, organization_id, source, campaign_id, ad_id, week_start, is_customer, revenue)
    SELECT la.lead_id, la.organization_id, coalesce(la.source, 'organic'), la.campaign_id, la.ad_id,
           date_trunc('week', la.conversion_date)::date, o.lead_id IS NOT NULL, coalesce(o.won_revenue, 0)
    FROM public.lead_attribution AS la
    LEFT JOIN analytics.lead_outcomes AS o ON o.lead_id = la.lead_id
    WHERE la.lead_id = ANY ((SELECT array_agg(lead_id) FROM _cr_changed)::uuid[])
    RETURNING *
)
INSERT INTO _cr_lead_delta SELECT new.*, 1 FROM new;

-- step: lead_totals_apply
INSERT INTO analytics.correlation_lead_totals AS t
    (organization_id, source, campaign_id, ad_id, week_start, grain, leads, customers, revenue)
SELECT organization_id, source, campaign_id, ad_id, week_start,
       CASE WHEN GROUPING(ad_id) = 0 THEN 'creative' ELSE 'week' END,
       sum(sign), coalesce(sum(sign) FILTER (WHERE is_customer), 0), sum(sign * revenue)
FROM _cr_lead_delta
GROUP BY organization_id, source, campaign_id, GROUPING SETS ((ad_id), (week_start))
ON CONFLICT ON CONSTRAINT correlation_lead_totals_key DO UPDATE
SET leads = t.leads + excluded.leads,
    customers = t.customers + excluded.customers,
    revenue = t.revenue + excluded.revenue;
DELETE FROM analytics.correlation_lead_totals WHERE leads = 0;

-- step: spend_delta
-- Incremental: consume the queued campaign_metrics deltas this snapshot sees (later ones wait for the next
-- refresh, exactly like the rows they describe).
CREATE TEMP TABLE _cr_spend_delta ON COMMIT DROP AS
WITH consumed AS (DELETE FROM analytics.campaign_metrics_deltas RETURNING *)
SELECT * FROM consumed;
INSERT INTO analytics.correlation_spend_totals AS t
    (organization_id, source, campaign_id, ad_id, week_start, grain, currency, metric_rows, spend, impressions,
     clicks, conversions, conversion_value, video_3s_views, thruplays)
SELECT organization_id, source, campaign_id, ad_id, week_start, grain, currency,
       sum(metric_rows), sum(spend), sum(impressions), sum(clicks), sum(conversions), sum(conversion_value),
       sum(video_3s_views), sum(thruplays)
FROM _cr_spend_delta
GROUP BY organization_id, source, campaign_id, ad_id, week_start, grain, currency
ON CONFLICT ON CONSTRAINT correlation_spend_totals_key DO UPDATE
SET metric_rows = t.metric_rows + excluded.metric_rows,
    spend = t.spend + excluded.spend,
    impressions = t.impressions + excluded.impressions,
    clicks = t.clicks + excluded.clicks,
    conversions = t.conversions + excluded.conversions,
    conversion_value = t.conversion_value + excluded.conversion_value,
    video_3s_views = t.video_3s_views + excluded.video_3s_views,
    thruplays = t.thruplays + excluded.thruplays;
DELETE FROM analytics.correlation_spend_totals WHERE metric_rows = 0;

-- step: touched_campaigns
-- Incremental: the campaigns whose rows must be rebuilt (every row of a campaign: the campaign row, its
-- creatives and its weeks), because a lead or a unit of spend of theirs moved.
CREATE TEMP TABLE _cr_campaigns ON COMMIT DROP AS
SELECT organization_id, source, campaign_id FROM _cr_lead_delta
UNION
SELECT organization_id, source, campaign_id FROM _cr_spend_delta WHERE grain <> 'reset';
ANALYZE _cr_campaigns;

-- step: base
-- The full outer join of both sides at both grains, written as UNION ALL + GROUP BY so that a NULL ad_id on
-- both sides still matches (GROUP BY treats NULLs as equal; a join condition would not). Campaigns with spend
-- and no leads, and leads with no spend, both survive with zeros on the other side. The scope placeholder is
-- empty on a full rebuild, else it keeps the touched campaigns.
CREATE TEMP TABLE correlation_base ON COMMIT DROP AS
SELECT organization_id, source, campaign_id, ad_id, week_start, grain,
       max(currency) AS currency,
       sum(spend) AS spend, sum(impressions) AS impressions, sum(clicks) AS clicks,
       sum(conversions) AS conversions, sum(conversion_value) AS conversion_value,
       sum(video_3s_views) AS video_3s_views, sum(thruplays) AS thruplays,
       sum(leads) AS leads, sum(customers) AS customers, sum(revenue) AS revenue,
       count(DISTINCT currency) AS currencies
FROM (
    SELECT organization_id, source, campaign_id, ad_id, week_start, grain, currency,
           spend, impressions, clicks, conversions, conversion_value, video_3s_views, thruplays,
           0 AS leads, 0 AS customers, 0 AS revenue
    FROM analytics.correlation_spend_totals AS s
    WHERE true {scope}
    UNION ALL
    SELECT organization_id, source, campaign_id, ad_id, week_start, grain, NULL,
           0, 0, 0, 0, 0, 0, 0,
           leads, customers, revenue
    FROM analytics.correlation_lead_totals AS s
    WHERE true {scope}
) AS sides
GROUP BY 1, 2, 3, 4, 5, 6;

-- step: names
-- The latest campaign_name and ad_name of each id in campaign_metrics (the name on its newest dated row that
-- has one; a renamed campaign's rows change, so it is among the touched ones), for the campaigns to rebuild.
CREATE TEMP TABLE _cr_campaign_names ON COMMIT DROP AS
SELECT DISTINCT ON (organization_id, source, campaign_id) organization_id, source, campaign_id, campaign_name
FROM public.campaign_metrics AS s
WHERE campaign_name IS NOT NULL {scope}
ORDER BY organization_id, source, campaign_id, date DESC, ingested_at DESC, id DESC;
CREATE TEMP TABLE _cr_ad_names ON COMMIT DROP AS
SELECT DISTINCT ON (organization_id, source, campaign_id, ad_id) organization_id, source, campaign_id, ad_id, ad_name
FROM public.campaign_metrics AS s
WHERE ad_name IS NOT NULL AND ad_id IS NOT NULL {scope}
ORDER BY organization_id, source, campaign_id, ad_id, date DESC, ingested_at DESC, id DESC;

-- step: save_state
INSERT INTO analytics.correlation_state (singleton, lead_run_id, leads_present, refreshed_at)
VALUES (true, %(upto_run_id)s, EXISTS (SELECT 1 FROM analytics.correlation_leads), now())
ON CONFLICT (singleton) DO UPDATE
SET lead_run_id = excluded.lead_run_id, leads_present = excluded.leads_present,
    refreshed_at = excluded.refreshed_at;
