-- Incremental correlation tables (issue #4: a 1% change must refresh every analytics table in a tenth of a
-- full rebuild). The correlation tables are grouped from two sides, each now kept up to date by deltas
-- instead of being regrouped from 1 M leads and 730 k metric rows on every run:
--   lead side:  analytics.correlation_leads (what each lead contributed at the last refresh) and its sums
--               analytics.correlation_lead_totals; the leads lead_attribution recomputed since (its change
--               log) are subtracted with their old contribution and added with their new one.
--   spend side: analytics.correlation_spend_totals, moved by the deltas a statement trigger on
--               public.campaign_metrics queues in analytics.campaign_metrics_deltas (any writer: ingestion,
--               CSV import, hand-written SQL). The queue is insert-only, so concurrent loads never wait on
--               each other; the correlation refresh consumes it.
-- campaign_attributed_revenue reads analytics.campaign_credit_totals, kept by a statement trigger on the
-- credits storage, instead of grouping 2.3 M touch credits.
-- Derived tables are UNLOGGED where a crash can be detected and repaired by a full rebuild (as in 0204).

CREATE TABLE analytics.correlation_state (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    lead_run_id   bigint,                 -- lead_attribution run whose changes are included (attribution_state)
    leads_present boolean NOT NULL,       -- correlation_leads had rows: finding it empty means a crash emptied it
    refreshed_at  timestamptz NOT NULL DEFAULT now()
);

-- What each live attributed lead contributes: its keys at both grains and whether it bought.
CREATE UNLOGGED TABLE analytics.correlation_leads (
    lead_id         uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    source          text NOT NULL,
    campaign_id     text NOT NULL,
    ad_id           text,
    week_start      date NOT NULL,
    is_customer     boolean NOT NULL,
    revenue         numeric NOT NULL
);

-- Sums of correlation_leads at grain 'creative' (week_start NULL) and 'week' (ad_id NULL).
CREATE UNLOGGED TABLE analytics.correlation_lead_totals (
    organization_id uuid NOT NULL,
    source          text NOT NULL,
    campaign_id     text NOT NULL,
    ad_id           text,
    week_start      date,
    grain           text NOT NULL CHECK (grain IN ('creative', 'week')),
    leads           bigint NOT NULL,
    customers       bigint NOT NULL,
    revenue         numeric NOT NULL,
    CONSTRAINT correlation_lead_totals_key UNIQUE NULLS NOT DISTINCT
        (organization_id, source, campaign_id, ad_id, week_start, grain)
);

-- Sums of campaign_metrics at the same two grains, per currency; metric_rows counts the rows summed, so a
-- key whose last row is deleted disappears. Logged (and small: one row per ad and per campaign-week), so
-- that these totals plus the queued deltas equal campaign_metrics at every commit, crashes included:
-- campaign_attributed_revenue reads spend that way without consuming the queue.
CREATE TABLE analytics.correlation_spend_totals (
    organization_id  uuid NOT NULL,
    source           text NOT NULL,
    campaign_id      text NOT NULL,
    ad_id            text,
    week_start       date,
    grain            text NOT NULL CHECK (grain IN ('creative', 'week')),
    currency         text NOT NULL,
    metric_rows      bigint NOT NULL,
    spend            numeric NOT NULL,
    impressions      numeric NOT NULL,
    clicks           numeric NOT NULL,
    conversions      numeric NOT NULL,
    conversion_value numeric NOT NULL,
    video_3s_views   numeric NOT NULL,
    thruplays        numeric NOT NULL,
    CONSTRAINT correlation_spend_totals_key UNIQUE NULLS NOT DISTINCT
        (organization_id, source, campaign_id, ad_id, week_start, grain, currency)
);

-- Logged: a queued delta must survive a crash exactly when the campaign_metrics change it describes does.
-- grain 'reset' = campaign_metrics was truncated (no per-row deltas): the next refresh regroups it in full.
CREATE TABLE analytics.campaign_metrics_deltas (
    organization_id  uuid,
    source           text,
    campaign_id      text,
    ad_id            text,
    week_start       date,
    grain            text NOT NULL CHECK (grain IN ('creative', 'week', 'reset')),
    currency         text,
    metric_rows      bigint,
    spend            numeric,
    impressions      numeric,
    clicks           numeric,
    conversions      numeric,
    conversion_value numeric,
    video_3s_views   numeric,
    thruplays        numeric
);

-- The changed rows of one statement (sign +1 new, -1 old), summed at both grains. EXECUTE, because a
-- transition table exists only in the triggers that declare it (INSERT: new; DELETE: old; UPDATE: both).
CREATE FUNCTION analytics.queue_campaign_metrics_deltas() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO analytics.campaign_metrics_deltas (grain) VALUES ('reset');
        RETURN NULL;
    END IF;
    EXECUTE format($sql$
        INSERT INTO analytics.campaign_metrics_deltas
            (organization_id, source, campaign_id, ad_id, week_start, grain, currency, metric_rows, spend,
             impressions, clicks, conversions, conversion_value, video_3s_views, thruplays)
        SELECT organization_id, source, campaign_id, ad_id, week_start,
               CASE WHEN GROUPING(ad_id) = 0 THEN 'creative' ELSE 'week' END, currency,
               sum(sign), sum(sign * spend), sum(sign * impressions), sum(sign * clicks), sum(sign * conversions),
               sum(sign * conversion_value), sum(sign * video_3s_views), sum(sign * thruplays)
        FROM (%s) AS changed
        GROUP BY organization_id, source, campaign_id, currency, GROUPING SETS ((ad_id), (week_start))
        $sql$,
        concat_ws(' UNION ALL ',
            CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN
                'SELECT 1 AS sign, organization_id, source, campaign_id, ad_id, currency::text AS currency, '
                'date_trunc(''week'', date::timestamp)::date AS week_start, spend, impressions, clicks, '
                'conversions, conversion_value, video_3s_views, thruplays FROM new_rows' END,
            CASE WHEN TG_OP IN ('DELETE', 'UPDATE') THEN
                'SELECT -1 AS sign, organization_id, source, campaign_id, ad_id, currency::text AS currency, '
                'date_trunc(''week'', date::timestamp)::date AS week_start, spend, impressions, clicks, '
                'conversions, conversion_value, video_3s_views, thruplays FROM old_rows' END));
    RETURN NULL;
END
$$;

CREATE TRIGGER campaign_metrics_deltas_insert AFTER INSERT ON public.campaign_metrics
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.queue_campaign_metrics_deltas();
CREATE TRIGGER campaign_metrics_deltas_update AFTER UPDATE ON public.campaign_metrics
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.queue_campaign_metrics_deltas();
CREATE TRIGGER campaign_metrics_deltas_delete AFTER DELETE ON public.campaign_metrics
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.queue_campaign_metrics_deltas();
CREATE TRIGGER campaign_metrics_deltas_truncate AFTER TRUNCATE ON public.campaign_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.queue_campaign_metrics_deltas();

-- Credits per (organization, campaign), a column per model (NULL: model not configured, as in the storage).
-- Credits are float8 sums: a lead's old credits subtracted and new ones added may leave ~1e-16 relative
-- rounding per refresh (the full rebuild regroups them); revenue credits are numeric, exact.
CREATE UNLOGGED TABLE analytics.campaign_credit_totals (
    organization_id        uuid NOT NULL,
    campaign_id            text,
    touches                bigint NOT NULL,
    first_touch            double precision,
    last_touch             double precision,
    linear                 double precision,
    position_based         double precision,
    time_decay             double precision,
    first_touch_revenue    numeric,
    last_touch_revenue     numeric,
    linear_revenue         numeric,
    position_based_revenue numeric,
    time_decay_revenue     numeric,
    CONSTRAINT campaign_credit_totals_key UNIQUE NULLS NOT DISTINCT (organization_id, campaign_id)
);

-- a + b where NULL means "model not configured": NULL only when both are.
CREATE FUNCTION analytics.add_credit(a anycompatible, b anycompatible) RETURNS anycompatible
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a ELSE a + b END $$;

-- Only the credits refresh writes the storage, one transaction at a time (advisory lock), so adding to the
-- totals in place cannot deadlock. Rows whose touches reach 0 are removed. A full credits rebuild disables
-- the insert trigger for its bulk load and regroups the totals once (attribution_credits.sql).
CREATE FUNCTION analytics.apply_credit_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM analytics.campaign_credit_totals;
        RETURN NULL;
    END IF;
    EXECUTE format($sql$
        INSERT INTO analytics.campaign_credit_totals AS t
        SELECT organization_id, campaign_id, sum(sign),
               sum(sign * first_touch), sum(sign * last_touch), sum(sign * linear),
               sum(sign * position_based), sum(sign * time_decay),
               sum(sign * first_touch_revenue), sum(sign * last_touch_revenue), sum(sign * linear_revenue),
               sum(sign * position_based_revenue), sum(sign * time_decay_revenue)
        FROM (%s) AS changed
        GROUP BY organization_id, campaign_id
        ON CONFLICT ON CONSTRAINT campaign_credit_totals_key DO UPDATE
        SET touches = t.touches + excluded.touches,
            first_touch = analytics.add_credit(t.first_touch, excluded.first_touch),
            last_touch = analytics.add_credit(t.last_touch, excluded.last_touch),
            linear = analytics.add_credit(t.linear, excluded.linear),
            position_based = analytics.add_credit(t.position_based, excluded.position_based),
            time_decay = analytics.add_credit(t.time_decay, excluded.time_decay),
            first_touch_revenue = analytics.add_credit(t.first_touch_revenue, excluded.first_touch_revenue),
            last_touch_revenue = analytics.add_credit(t.last_touch_revenue, excluded.last_touch_revenue),
            linear_revenue = analytics.add_credit(t.linear_revenue, excluded.linear_revenue),
            position_based_revenue = analytics.add_credit(t.position_based_revenue, excluded.position_based_revenue),
            time_decay_revenue = analytics.add_credit(t.time_decay_revenue, excluded.time_decay_revenue)
        $sql$,
        concat_ws(' UNION ALL ',
            CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN 'SELECT 1 AS sign, * FROM new_rows' END,
            CASE WHEN TG_OP IN ('DELETE', 'UPDATE') THEN 'SELECT -1 AS sign, * FROM old_rows' END));
    DELETE FROM analytics.campaign_credit_totals WHERE touches = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER credit_totals_insert AFTER INSERT ON analytics.attribution_touch_credits
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_credit_totals();
CREATE TRIGGER credit_totals_update AFTER UPDATE ON analytics.attribution_touch_credits
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_credit_totals();
CREATE TRIGGER credit_totals_delete AFTER DELETE ON analytics.attribution_touch_credits
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_credit_totals();
CREATE TRIGGER credit_totals_truncate AFTER TRUNCATE ON analytics.attribution_touch_credits
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_credit_totals();

-- Spend and credits already stored before this migration.
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

INSERT INTO analytics.campaign_credit_totals
SELECT organization_id, campaign_id, count(*),
       sum(first_touch), sum(last_touch), sum(linear), sum(position_based), sum(time_decay),
       sum(first_touch_revenue), sum(last_touch_revenue), sum(linear_revenue),
       sum(position_based_revenue), sum(time_decay_revenue)
FROM analytics.attribution_touch_credits
GROUP BY organization_id, campaign_id;
