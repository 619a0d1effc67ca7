-- Synthetic BI data for benchmarks/bench_attribution.py: organizations, %(campaigns)s campaigns x 365 days
-- of campaign metrics (campaign cN belongs to organization 1 + N mod 5; leads and touches use c0..c49),
-- %(leads)s crm_raw leads with 1-5 touchpoints (about 3) and %(deals)s deals. Values are random (setseed).
-- step: seed
SELECT setseed(0.42);

-- step: organizations
INSERT INTO organizations (id, name, slug)
SELECT ('00000000-0000-4000-8000-00000000000' || o)::uuid, 'Bench org ' || o, 'bench-' || o
FROM generate_series(1, 5) AS o;

-- step: metrics
INSERT INTO campaign_metrics (organization_id, source, campaign_id, date, spend, impressions, clicks, conversions,
                              conversion_value)
SELECT ('00000000-0000-4000-8000-00000000000' || (1 + mod(c, 5)))::uuid,
       CASE WHEN mod(c, 2) = 0 THEN 'meta' ELSE 'google' END,
       'c' || c, date '2025-11-01' + d, round((random() * 500)::numeric, 2), 10000, 300,
       floor(random() * 20), round((random() * 2000)::numeric, 2)
FROM generate_series(0, %(campaigns)s - 1) AS c, generate_series(0, 364) AS d;

-- step: leads
INSERT INTO crm_raw.leads (id, organization_id, status, campaign_id, ad_id, utm_source, utm_medium, gclid, fbclid,
                           touchpoints, attribution_synced, created_at, updated_at)
SELECT gen_random_uuid(),
       ('00000000-0000-4000-8000-00000000000' || (1 + mod(i, 5)))::uuid,
       'new',
       CASE WHEN mod(i, 10) = 0 THEN NULL ELSE 'c' || (mod(i, 50)) END,
       CASE WHEN mod(i, 10) = 0 THEN NULL ELSE 'ad' || (mod(i, 400)) END,
       (ARRAY['facebook', 'google', 'ig', NULL, 'newsletter'])[1 + mod(i, 5)],
       'cpc',
       CASE WHEN mod(i, 7) = 0 THEN 'gclid' || i END,
       CASE WHEN mod(i, 11) = 0 THEN 'fbclid' || i END,
       t.touches,
       false,
       l.created_at,
       l.created_at
FROM generate_series(1, %(leads)s) AS i
CROSS JOIN LATERAL (SELECT timestamptz '2026-09-01' + random() * interval '60 days' + i * interval '0 s' AS created_at) l
CROSS JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'timestamp', to_char((l.created_at - random() * interval '40 days' - k * interval '1 s') AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'channel', (ARRAY['meta', 'google', 'email', 'organic_search', 'direct'])[1 + floor(random() * 5)::int],
               'campaign_id', 'c' || floor(random() * 50)::int,
               'ad_id', 'ad' || floor(random() * 400)::int)) AS touches
    FROM generate_series(1, 1 + mod(i / 5, 5)) AS k
) t;

-- step: deals
INSERT INTO crm_raw.deals (id, organization_id, lead_id, stage, amount, currency, closed_at, created_at, updated_at)
SELECT gen_random_uuid(), l.organization_id, l.id,
       (ARRAY['won', 'won', 'won', 'lost', 'open'])[1 + floor(random() * 5)::int],
       round((random() * 5000)::numeric, 2), 'USD', l.created_at + interval '10 days', l.created_at, l.created_at
FROM (SELECT id, organization_id, created_at FROM crm_raw.leads ORDER BY id LIMIT %(deals)s) l;

-- step: analyze
ANALYZE;
