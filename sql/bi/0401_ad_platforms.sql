-- Ad platform ingestion (Meta, Google Ads): which ad account a metrics row came from, the raw platform
-- action counts, per-integration credentials, foreign exchange rates and the reporting-currency view.

-- campaign_metrics: the ad account of each row (API restatement replaces one account's rows only),
-- link clicks beside all clicks, the platform's action breakdown, and how the row arrived.
ALTER TABLE campaign_metrics
    ADD COLUMN account_id       text,
    ADD COLUMN link_clicks      bigint NOT NULL DEFAULT 0,
    ADD COLUMN platform_actions jsonb,
    ADD COLUMN loaded_via       text CHECK (loaded_via IN ('api', 'csv', 'seed'));
CREATE INDEX campaign_metrics_source_date_idx ON campaign_metrics (source, date);

-- integrations: the environment variable holding this integration's token (never the token itself;
-- NULL means the provider's default variable), and a status for "no credentials configured".
ALTER TABLE integrations
    ADD COLUMN credentials_env_var text CHECK (credentials_env_var ~ '^[A-Z_][A-Z0-9_]*$');
ALTER TABLE integrations DROP CONSTRAINT integrations_status_check;
ALTER TABLE integrations
    ADD CONSTRAINT integrations_status_check
        CHECK (status IN ('pending', 'ok', 'error', 'disabled', 'unconfigured'));

-- fx_rates: rate_to_usd = how many US dollars one unit of `currency` was worth on `date`
-- (e.g. BRL 0.1823). USD needs no row: its rate is 1 by definition. Converting an amount from
-- currency A to currency B on day d: amount * rate_to_usd(A, d) / rate_to_usd(B, d).
CREATE TABLE fx_rates (
    date        date NOT NULL,
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    rate_to_usd numeric(20, 10) NOT NULL CHECK (rate_to_usd > 0),
    source      text,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (currency, date)
);

-- USD per unit of `currency` on `on_date`: the latest published rate at most 6 days before it
-- (central banks publish no rates on weekends and holidays). NULL when there is none: callers must
-- treat NULL as "missing rate", never as 1.
CREATE FUNCTION analytics.usd_rate(in_currency char(3), on_date date) RETURNS numeric
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN upper(in_currency) = 'USD' THEN 1::numeric
        ELSE (SELECT r.rate_to_usd
                FROM public.fx_rates AS r
               WHERE r.currency = upper(in_currency)
                 AND r.date <= on_date
                 AND r.date > on_date - 7
               ORDER BY r.date DESC
               LIMIT 1)
    END
$$;

-- Multiplier taking an amount in `from_currency` to `to_currency` on `on_date` (NULL when a rate is missing).
CREATE FUNCTION analytics.fx_rate(from_currency char(3), to_currency char(3), on_date date) RETURNS numeric
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN upper(from_currency) = upper(to_currency) THEN 1::numeric
        ELSE analytics.usd_rate(from_currency, on_date) / analytics.usd_rate(to_currency, on_date)
    END
$$;

-- `amount` in `from_currency` converted to `to_currency` on `on_date` (NULL when a rate is missing).
CREATE FUNCTION analytics.fx_convert(amount numeric, from_currency char(3), to_currency char(3), on_date date)
    RETURNS numeric
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT amount * analytics.fx_rate(from_currency, to_currency, on_date)
$$;

-- campaign_metrics with spend and platform revenue in the organization's reporting currency.
-- fx_rate (and the *_reporting columns) are NULL where a rate is missing; the ingestion's
-- fx_rates_available asset check fails on such rows, so they are never summed as if converted.
CREATE VIEW analytics.campaign_metrics_reporting AS
SELECT m.organization_id,
       m.source,
       m.account_id,
       m.campaign_id,
       m.ad_set_id,
       m.ad_id,
       m.date,
       m.campaign_name,
       m.ad_name,
       m.currency,
       m.spend,
       m.impressions,
       m.clicks,
       m.link_clicks,
       m.conversions,
       m.conversion_value,
       m.video_3s_views,
       m.thruplays,
       o.reporting_currency,
       fx.rate                        AS fx_rate,
       m.spend * fx.rate              AS spend_reporting,
       m.conversion_value * fx.rate   AS conversion_value_reporting
  FROM public.campaign_metrics AS m
  JOIN public.organizations AS o ON o.id = m.organization_id
 CROSS JOIN LATERAL (SELECT analytics.fx_rate(m.currency, o.reporting_currency, m.date) AS rate) AS fx;
