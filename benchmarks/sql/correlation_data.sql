-- Synthetic BI inputs for bench_correlation.py, generated inside PostgreSQL (deterministic: setseed).
-- Parameters (psycopg named placeholders): orgs organizations, campaigns x days of metrics (4 ads per
-- campaign, one ad row per campaign-day), leads with their lead_attribution rows, deals, and credit_leads
-- leads x 5 models x 2 touches of attribution credits.
SELECT setseed(0.42);

INSERT INTO organizations (id, name, slug)
SELECT ('00000000-0000-0000-0000-' || lpad(o::text, 12, '0'))::uuid, 'Org ' || o, 'org-' || o
FROM generate_series(1, %(orgs)s) AS o;

CREATE TEMP TABLE bench_campaigns AS
SELECT c, ('00000000-0000-0000-0000-' || lpad((1 + c %% %(orgs)s)::text, 12, '0'))::uuid AS org,
       CASE WHEN c %% 2 = 0 THEN 'meta' ELSE 'google' END AS source, 'c' || c AS campaign_id
FROM generate_series(0, %(campaigns)s - 1) AS c;

INSERT INTO campaign_metrics (organization_id, source, campaign_id, ad_id, date, spend, impressions, clicks,
                              conversions, conversion_value, video_3s_views, thruplays)
SELECT b.org, b.source, b.campaign_id, b.campaign_id || '-a' || (d %% 4), DATE '2025-01-01' + d,
       round((random() * 200)::numeric, 2), 1000 + (random() * 9000)::int, (random() * 200)::int,
       round((random() * 10)::numeric, 2), round((random() * 800)::numeric, 2),
       (random() * 900)::int, (random() * 200)::int
FROM bench_campaigns AS b, generate_series(0, %(days)s - 1) AS d;

CREATE TEMP TABLE bench_leads AS
SELECT gen_random_uuid() AS id, (random() * (%(campaigns)s - 1))::int AS c,
       TIMESTAMPTZ '2025-01-01Z' + random() * INTERVAL '365 days' AS created_at,
       random() < 0.02 AS deleted, (random() * 3.999)::int AS ad
FROM generate_series(1, %(leads)s);

INSERT INTO crm_raw.leads (id, organization_id, status, campaign_id, ad_id, attribution_synced,
                           created_at, updated_at, deleted_at)
SELECT l.id, b.org, 'new', b.campaign_id, b.campaign_id || '-a' || l.ad, true, l.created_at, l.created_at,
       CASE WHEN l.deleted THEN l.created_at END
FROM bench_leads AS l JOIN bench_campaigns AS b USING (c);

INSERT INTO lead_attribution (organization_id, lead_id, campaign_id, ad_id, source, conversion_date)
SELECT b.org, l.id, b.campaign_id, b.campaign_id || '-a' || l.ad, b.source, l.created_at AT TIME ZONE 'UTC'
FROM bench_leads AS l JOIN bench_campaigns AS b USING (c);

INSERT INTO crm_raw.deals (id, organization_id, lead_id, stage, amount, currency, closed_at, created_at, updated_at)
SELECT gen_random_uuid(), b.org, l.id,
       CASE WHEN random() < 0.6 THEN 'won' WHEN random() < 0.5 THEN 'lost' ELSE 'open' END,
       round((100 + random() * 5000)::numeric, 2), 'USD', l.created_at + INTERVAL '10 days', l.created_at,
       l.created_at + INTERVAL '10 days'
FROM (SELECT * FROM bench_leads ORDER BY random() LIMIT %(deals)s) AS l JOIN bench_campaigns AS b USING (c);

INSERT INTO analytics.attribution_touch_credits (
    organization_id, lead_id, touch_index, channel, campaign_id, ad_id,
    first_touch, last_touch, linear, position_based, time_decay,
    first_touch_revenue, last_touch_revenue, linear_revenue, position_based_revenue, time_decay_revenue)
SELECT b.org, l.id, t, 'paid', 'c' || ((l.c + t * 7) %% %(campaigns)s), NULL,
       0.5, 0.5, 0.5, 0.5, 0.5, 500, 500, 500, 500, 500
FROM (SELECT * FROM bench_leads LIMIT %(credit_leads)s) AS l
JOIN bench_campaigns AS b USING (c)
CROSS JOIN generate_series(0, 1) AS t;

ANALYZE;
