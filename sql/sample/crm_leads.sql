-- Contacts and leads from the plan. A lead's touchpoints (1 to 6, about 3 on average) end with the
-- touch that brought it (its own ad, or its organic channel) up to 30 minutes before created_at;
-- earlier touches fall inside the 29 days before, oldest first, mixing other ads of the organization
-- (45%) with organic search, direct visits, e-mail and organic social. A touch is written as JSON
-- text from precomputed members and the array parsed once per lead: no per-lead sub-query and no
-- jsonb building functions (five times slower), so a million leads stay fast.
-- Slot k holds the k-th touch before the last; its ad (pick<k>) or organic kind (kind<k>) is drawn
-- whether or not the lead has that many touches, so the draws never depend on each other.

INSERT INTO contacts (id, organization_id, name, email, phone, created_at, updated_at)
SELECT l.contact_id, l.org_id, n.full_name, n.email, n.phone,
       l.created_at, l.created_at
FROM sample_lead_plan l
CROSS JOIN sample_params p
CROSS JOIN LATERAL pg_temp.sample_person(p.seed, l.i) AS n
WHERE l.has_contact;

WITH organic_kinds (kind, utm_source, utm_medium, utm_campaign, touch_members) AS (
    VALUES (1, NULL,         NULL,     NULL,             '"channel": "direct", "source": "direct"'),
           (2, NULL,         NULL,     NULL,             '"channel": "organic_search", "source": "google", "medium": "organic"'),
           (3, 'newsletter', 'email',  'monthly_digest', '"channel": "email", "source": "newsletter", "medium": "email"'),
           (4, 'linkedin',   'social', NULL,             '"channel": "organic_social", "source": "linkedin", "medium": "social"')
), leads_in AS (
    SELECT l.*, p.seed,
           (SELECT array_agg(touch_members ORDER BY kind) FROM organic_kinds)      AS organic_members,
           a.source, a.campaign_id, a.ad_set_id, a.ad_id, a.channel, a.touch_members AS ad_members,
           a.utm_medium AS paid_medium, a.utm_campaign AS paid_utm_campaign,
           a.utm_content,
           CASE a.source WHEN 'meta' THEN CASE WHEN pg_temp.sample_u(p.seed, 30, l.i) < 0.7 THEN 'facebook'
                                               ELSE 'instagram' END
                         WHEN 'google' THEN 'google' END                           AS utm_source,
           width_bucket(l.u_touches, ARRAY[0, 0.15, 0.40, 0.65, 0.82, 0.93])       AS touches,
           width_bucket(pg_temp.sample_u(p.seed, 28, l.i), ARRAY[0, 0.5, 0.7, 0.85]) AS organic_kind,
           CASE WHEN pg_temp.sample_u(p.seed, 201, l.i) < 0.45
                THEN oa.first_ad_idx + floor(pg_temp.sample_u(p.seed, 211, l.i) * oa.ad_count)::integer END AS pick1,
           (ARRAY[2, 1, 3, 4])[width_bucket(pg_temp.sample_u(p.seed, 201, l.i), ARRAY[0.45, 0.65, 0.8, 0.9])] AS kind1,
           CASE WHEN pg_temp.sample_u(p.seed, 202, l.i) < 0.45
                THEN oa.first_ad_idx + floor(pg_temp.sample_u(p.seed, 212, l.i) * oa.ad_count)::integer END AS pick2,
           (ARRAY[2, 1, 3, 4])[width_bucket(pg_temp.sample_u(p.seed, 202, l.i), ARRAY[0.45, 0.65, 0.8, 0.9])] AS kind2,
           CASE WHEN pg_temp.sample_u(p.seed, 203, l.i) < 0.45
                THEN oa.first_ad_idx + floor(pg_temp.sample_u(p.seed, 213, l.i) * oa.ad_count)::integer END AS pick3,
           (ARRAY[2, 1, 3, 4])[width_bucket(pg_temp.sample_u(p.seed, 203, l.i), ARRAY[0.45, 0.65, 0.8, 0.9])] AS kind3,
           CASE WHEN pg_temp.sample_u(p.seed, 204, l.i) < 0.45
                THEN oa.first_ad_idx + floor(pg_temp.sample_u(p.seed, 214, l.i) * oa.ad_count)::integer END AS pick4,
           (ARRAY[2, 1, 3, 4])[width_bucket(pg_temp.sample_u(p.seed, 204, l.i), ARRAY[0.45, 0.65, 0.8, 0.9])] AS kind4,
           CASE WHEN pg_temp.sample_u(p.seed, 205, l.i) < 0.45
                THEN oa.first_ad_idx + floor(pg_temp.sample_u(p.seed, 215, l.i) * oa.ad_count)::integer END AS pick5,
           (ARRAY[2, 1, 3, 4])[width_bucket(pg_temp.sample_u(p.seed, 205, l.i), ARRAY[0.45, 0.65, 0.8, 0.9])] AS kind5,
           pg_temp.sample_u(p.seed, 27, l.i) < CASE a.source WHEN 'meta' THEN 0.85 ELSE 0.9 END AS has_click_id
    FROM sample_lead_plan l
    CROSS JOIN sample_params p
    LEFT JOIN sample_ads a ON a.ad_idx = l.ad_idx
    JOIN sample_org_ads oa ON oa.org_idx = l.org_idx
    OFFSET 0  -- a fence: the expressions below read these columns, not their formulas
)
INSERT INTO leads (id, organization_id, contact_id, name, email, phone, status, value,
                   campaign_id, ad_id, ad_set_id, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
                   gclid, fbclid, touchpoints, attribution_synced, created_at, updated_at, deleted_at)
SELECT x.lead_id, x.org_id, x.contact_id,
       n.full_name, n.email, n.phone, x.status, x.deal1_amount,
       x.campaign_id, x.ad_id, x.ad_set_id,
       coalesce(x.utm_source, ok.utm_source),
       coalesce(x.paid_medium, ok.utm_medium),
       coalesce(x.paid_utm_campaign, ok.utm_campaign),
       x.utm_content,
       CASE WHEN x.channel = 'paid_search'
            THEN (ARRAY['pricing', 'near me', 'best option', 'reviews', 'free trial', 'discount'])
                 [1 + floor(pg_temp.sample_u(x.seed, 31, x.i) * 6)::integer] END,
       CASE WHEN x.source = 'google' AND x.has_click_id
            THEN 'Cj0KCQ' || to_hex(hashint8extended(x.i, x.seed + 32)) || to_hex(hashint8extended(x.i, x.seed + 33)) END,
       CASE WHEN x.source = 'meta' AND x.has_click_id
            THEN 'IwAR' || to_hex(hashint8extended(x.i, x.seed + 34)) || to_hex(hashint8extended(x.i, x.seed + 35)) END,
       ('[' || concat_ws(', ',
           CASE WHEN x.touches > 5 THEN
               '{' || coalesce(t5.touch_members || CASE t5.source WHEN 'meta' THEN ', "source": "facebook"'
                                                               ELSE ', "source": "google"' END,
                               x.organic_members[x.kind5])
               || ', "timestamp": "' || replace(((x.created_at - floor(1800 + (4 + pg_temp.sample_u(x.seed, 225, x.i))
                         * 2505600 / greatest(x.touches - 1, 1)) * interval '1 second') AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z"}'
           END,
           CASE WHEN x.touches > 4 THEN
               '{' || coalesce(t4.touch_members || CASE t4.source WHEN 'meta' THEN ', "source": "facebook"'
                                                               ELSE ', "source": "google"' END,
                               x.organic_members[x.kind4])
               || ', "timestamp": "' || replace(((x.created_at - floor(1800 + (3 + pg_temp.sample_u(x.seed, 224, x.i))
                         * 2505600 / greatest(x.touches - 1, 1)) * interval '1 second') AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z"}'
           END,
           CASE WHEN x.touches > 3 THEN
               '{' || coalesce(t3.touch_members || CASE t3.source WHEN 'meta' THEN ', "source": "facebook"'
                                                               ELSE ', "source": "google"' END,
                               x.organic_members[x.kind3])
               || ', "timestamp": "' || replace(((x.created_at - floor(1800 + (2 + pg_temp.sample_u(x.seed, 223, x.i))
                         * 2505600 / greatest(x.touches - 1, 1)) * interval '1 second') AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z"}'
           END,
           CASE WHEN x.touches > 2 THEN
               '{' || coalesce(t2.touch_members || CASE t2.source WHEN 'meta' THEN ', "source": "facebook"'
                                                               ELSE ', "source": "google"' END,
                               x.organic_members[x.kind2])
               || ', "timestamp": "' || replace(((x.created_at - floor(1800 + (1 + pg_temp.sample_u(x.seed, 222, x.i))
                         * 2505600 / greatest(x.touches - 1, 1)) * interval '1 second') AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z"}'
           END,
           CASE WHEN x.touches > 1 THEN
               '{' || coalesce(t1.touch_members || CASE t1.source WHEN 'meta' THEN ', "source": "facebook"'
                                                               ELSE ', "source": "google"' END,
                               x.organic_members[x.kind1])
               || ', "timestamp": "' || replace(((x.created_at - floor(1800 + (0 + pg_temp.sample_u(x.seed, 221, x.i))
                         * 2505600 / greatest(x.touches - 1, 1)) * interval '1 second') AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z"}'
           END,
           '{' || coalesce(x.ad_members || ', "source": "' || x.utm_source || '"', ok.touch_members)
               || ', "timestamp": "' || replace(((x.created_at - floor(pg_temp.sample_u(x.seed, 220, x.i) * 1800) * interval '1 second') AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z"}'
       ) || ']')::jsonb,
       false, x.created_at, x.updated_at,
       CASE WHEN x.deleted THEN x.updated_at END
FROM leads_in x
CROSS JOIN LATERAL pg_temp.sample_person(x.seed, x.i) AS n
JOIN organic_kinds ok ON ok.kind = x.organic_kind
LEFT JOIN sample_ads t1 ON t1.ad_idx = x.pick1
LEFT JOIN sample_ads t2 ON t2.ad_idx = x.pick2
LEFT JOIN sample_ads t3 ON t3.ad_idx = x.pick3
LEFT JOIN sample_ads t4 ON t4.ad_idx = x.pick4
LEFT JOIN sample_ads t5 ON t5.ad_idx = x.pick5;
