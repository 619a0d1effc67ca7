-- BI tenants: the same organization ids the CRM rows carry, with a reporting currency, a few users
-- and one Meta and one Google Ads integration each. Times are fixed relative to the window so the
-- same seed gives the same rows on any day.

INSERT INTO organizations (id, name, slug, reporting_currency, created_at, updated_at)
SELECT o.org_id, o.name, o.slug, o.currency,
       p.window_start - (200 + 30 * o.org_idx) * interval '1 day',
       p.window_start - (200 + 30 * o.org_idx) * interval '1 day'
FROM sample_orgs o CROSS JOIN sample_params p
ORDER BY o.org_idx;

INSERT INTO users (id, organization_id, email, name, role, created_at)
SELECT pg_temp.sample_uuid(p.seed, 'user', o.org_idx * 10 + u.k), o.org_id,
       u.role || '@' || o.slug || '.example.com',
       (ARRAY['Ana Ribeiro', 'Marcus Lee', 'Priya Nair', 'Tom Becker', 'Lucia Moreno', 'Kenji Sato'])
           [1 + (o.org_idx + u.k) % 6],
       u.role,
       p.window_start - (200 + 30 * o.org_idx - u.k * 7) * interval '1 day'
FROM sample_orgs o
CROSS JOIN sample_params p
CROSS JOIN (VALUES (1, 'owner'), (2, 'admin'), (3, 'traffic_manager'), (4, 'analyst')) AS u (k, role)
ORDER BY o.org_idx, u.k;

INSERT INTO integrations (id, organization_id, provider, account_id, status, last_synced_at, created_at, updated_at)
SELECT pg_temp.sample_uuid(p.seed, 'integration', o.org_idx * 10 + i.k), o.org_id, i.provider,
       CASE i.provider
           WHEN 'meta' THEN 'act_' || pg_temp.sample_platform_id(p.seed, 130, o.org_idx, '', 15)
           ELSE regexp_replace(pg_temp.sample_platform_id(p.seed, 131, o.org_idx, '', 10),
                               '(\d{3})(\d{3})(\d{4})', '\1-\2-\3')
       END,
       'ok',
       p.window_end - interval '2 hours',
       p.window_start - (199 + 30 * o.org_idx) * interval '1 day',
       p.window_end - interval '2 hours'
FROM sample_orgs o
CROSS JOIN sample_params p
CROSS JOIN (VALUES (1, 'meta'), (2, 'google')) AS i (k, provider)
ORDER BY o.org_idx, i.k;
