-- %(n)s realistic CRM leads for the sync benchmark: five organizations, the status mix of a real
-- funnel, campaign/ad/UTM fields, click ids, and a jsonb touchpoints array of 1 to 4 touches.
-- created_at spreads over 90 days; updated_at follows it (all committed history, as in a live CRM).
INSERT INTO leads (
    organization_id, name, email, phone, status, value, campaign_id, ad_id, ad_set_id,
    utm_source, utm_medium, utm_campaign, utm_content, utm_term, gclid, fbclid, touchpoints,
    created_at, updated_at, deleted_at
)
SELECT
    ('00000000-0000-0000-0000-00000000000' || (1 + g %% 5))::uuid,
    'Lead ' || g,
    'lead' || g || '@example' || (g %% 97) || '.com',
    '+55 11 9' || lpad((g %% 100000000)::text, 8, '0'),
    (ARRAY['new', 'new', 'contacted', 'qualified', 'unqualified', 'won', 'lost'])[1 + g %% 7],
    round((50 + (g::bigint * 7919 %% 500000) / 100.0)::numeric, 2),
    'cmp-' || (g %% 40), 'ad-' || (g %% 400), 'set-' || (g %% 120),
    (ARRAY['facebook', 'instagram', 'google', 'newsletter', 'linkedin'])[1 + g %% 5],
    (ARRAY['cpc', 'paid_social', 'email', 'organic'])[1 + g %% 4],
    'campaign-' || (g %% 40), 'creative-' || (g %% 400), CASE WHEN g %% 3 = 0 THEN 'crm software' END,
    CASE WHEN g %% 5 = 2 THEN 'Cj0KCQiA' || md5(g::text) END,
    CASE WHEN g %% 5 IN (0, 1) THEN 'IwAR' || md5(g::text) END,
    (SELECT jsonb_agg(jsonb_build_object(
                'timestamp', (created - make_interval(hours => (k * 11)::int))::text,
                'channel', (ARRAY['paid_social', 'paid_search', 'email', 'organic'])[1 + (g + k) %% 4],
                'source', (ARRAY['facebook', 'google', 'newsletter', 'direct'])[1 + (g + k) %% 4],
                'medium', 'cpc',
                'campaign_id', 'cmp-' || ((g + k) %% 40),
                'ad_id', 'ad-' || ((g + k) %% 400)))
     FROM generate_series(1, 1 + g %% 4) AS k),
    created,
    least(created + make_interval(mins => (g %% 600)::int), now()),
    CASE WHEN g %% 50 = 0 THEN created + interval '1 day' END
FROM (
    SELECT g, now() - interval '90 days' + make_interval(secs => (g::double precision * 7776000 / %(n)s)) AS created
    FROM generate_series(1, %(n)s) AS g
) AS s
