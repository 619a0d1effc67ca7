-- Correlation tables (docs/contracts.md, table and metric contracts): keys first, then the metrics.
-- Every ratio is a ratio of sums, NULL when its denominator is 0. Rebuilt in full by the correlation
-- assets (DELETE + INSERT in one transaction, so readers always see a complete table).
-- Money columns are in the currency as stored (see `currency`; 'mixed' = several currencies were summed,
-- which FX conversion will remove: sql/transforms/correlation/ad_metrics_weekly.sql is its join point).

-- 95% Wilson score interval for successes/trials; NULL when trials = 0. The bounds are clamped to [0, 1]
-- and to the side of the observed rate they belong to: mathematically low <= rate <= high, and the
-- clamps keep float rounding (0 successes gives a low of 5e-17) from breaking that.
CREATE FUNCTION analytics.wilson_bound(successes double precision, trials double precision, side double precision,
                                       z double precision DEFAULT 1.959963984540054)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN trials > 0 THEN least(1.0, greatest(0.0,
    (successes / trials + z * z / (2 * trials)
     + side * z * sqrt(greatest(0.0, (successes / trials) * (1 - successes / trials)) / trials + z * z / (4 * trials * trials)))
    / (1 + z * z / trials))) END;

CREATE FUNCTION analytics.wilson_low(successes double precision, trials double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN least(successes / NULLIF(trials, 0), analytics.wilson_bound(successes, trials, -1.0));

CREATE FUNCTION analytics.wilson_high(successes double precision, trials double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN greatest(successes / NULLIF(trials, 0), analytics.wilson_bound(successes, trials, 1.0));

CREATE TABLE analytics.campaign_lead_quality (
    organization_id            uuid NOT NULL,
    source                     text NOT NULL,
    campaign_id                text NOT NULL,
    spend                      numeric NOT NULL,
    impressions                bigint NOT NULL,
    clicks                     bigint NOT NULL,
    conversions                numeric NOT NULL,
    conversion_value           numeric NOT NULL,
    video_3s_views             bigint NOT NULL,
    thruplays                  bigint NOT NULL,
    leads                      bigint NOT NULL,
    customers                  bigint NOT NULL,
    revenue                    numeric NOT NULL,
    lead_to_customer_rate      double precision,
    lead_to_customer_rate_low  double precision,
    lead_to_customer_rate_high double precision,
    cpl                        numeric,
    cac                        numeric,
    avg_deal_value             numeric,
    platform_cpa               numeric,
    platform_roas              numeric,
    real_roas                  numeric,
    hook_rate                  double precision,
    hold_rate                  double precision,
    ctr                        double precision,
    currency                   text,
    built_at                   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, source, campaign_id)
);

CREATE TABLE analytics.creative_performance (
    organization_id            uuid NOT NULL,
    source                     text NOT NULL,
    campaign_id                text NOT NULL,
    ad_id                      text,            -- NULL: spend or leads known only at campaign level
    spend                      numeric NOT NULL,
    impressions                bigint NOT NULL,
    clicks                     bigint NOT NULL,
    conversions                numeric NOT NULL,
    conversion_value           numeric NOT NULL,
    video_3s_views             bigint NOT NULL,
    thruplays                  bigint NOT NULL,
    leads                      bigint NOT NULL,
    customers                  bigint NOT NULL,
    revenue                    numeric NOT NULL,
    lead_to_customer_rate      double precision,
    lead_to_customer_rate_low  double precision,
    lead_to_customer_rate_high double precision,
    cpl                        numeric,
    cac                        numeric,
    avg_deal_value             numeric,
    platform_cpa               numeric,
    platform_roas              numeric,
    real_roas                  numeric,
    hook_rate                  double precision,
    hold_rate                  double precision,
    ctr                        double precision,
    currency                   text,
    recommendation             text CHECK (recommendation IN ('pause', 'scale', 'keep', 'insufficient_data')),
    built_at                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT creative_performance_grain UNIQUE NULLS NOT DISTINCT (organization_id, source, campaign_id, ad_id)
);

-- Weekly lead cohorts: leads by the UTC week they were created, the spend of that same week.
CREATE TABLE analytics.campaign_weekly (
    organization_id            uuid NOT NULL,
    source                     text NOT NULL,
    campaign_id                text NOT NULL,
    week_start                 date NOT NULL,   -- Monday (ISO week, UTC)
    spend                      numeric NOT NULL,
    impressions                bigint NOT NULL,
    clicks                     bigint NOT NULL,
    conversions                numeric NOT NULL,
    conversion_value           numeric NOT NULL,
    video_3s_views             bigint NOT NULL,
    thruplays                  bigint NOT NULL,
    leads                      bigint NOT NULL,
    customers                  bigint NOT NULL,
    revenue                    numeric NOT NULL,
    lead_to_customer_rate      double precision,
    lead_to_customer_rate_low  double precision,
    lead_to_customer_rate_high double precision,
    cpl                        numeric,
    cac                        numeric,
    avg_deal_value             numeric,
    platform_cpa               numeric,
    platform_roas              numeric,
    real_roas                  numeric,
    hook_rate                  double precision,
    hold_rate                  double precision,
    ctr                        double precision,
    currency                   text,
    cohort_age_days            integer NOT NULL, -- days from week_start to the build date: young cohorts have not closed yet
    built_at                   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, source, campaign_id, week_start)
);

-- Revenue and leads credited to each campaign by each multi-touch model, against the campaign's spend.
CREATE TABLE analytics.campaign_attributed_revenue (
    organization_id    uuid NOT NULL,
    campaign_id        text,                    -- NULL: touches without a campaign (organic, direct)
    model              text NOT NULL,
    attributed_leads   double precision NOT NULL,
    attributed_revenue numeric NOT NULL,
    spend              numeric NOT NULL,
    roas               numeric,
    currency           text,
    built_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_attributed_revenue_grain UNIQUE NULLS NOT DISTINCT (organization_id, campaign_id, model)
);
