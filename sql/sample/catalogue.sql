-- The ad catalogue, built identically in the CRM session and in the BI session from the same
-- parameters: organizations, campaigns, ad sets and ads with the hidden "truth" of each campaign
-- (cost per lead, lead quality, deal value, how much its pixel over-reports). Leads are drawn from
-- it in the CRM and daily metrics in BI, so both databases describe the same campaigns and days.

CREATE TEMP TABLE sample_orgs ON COMMIT DROP AS
SELECT o                                                             AS org_idx,
       pg_temp.sample_uuid(p.seed, 'organization', o)                AS org_id,
       n.name || CASE WHEN o > 6 THEN ' ' || ((o - 1) / 6 + 1) ELSE '' END AS name,
       n.slug || CASE WHEN o > 6 THEN '-' || ((o - 1) / 6 + 1) ELSE '' END AS slug,
       n.currency,
       n.fx,                                       -- money scale of the currency against USD
       1.0 / (1 + 0.45 * (o - 1))::double precision AS size  -- bigger organizations first
FROM sample_params p
CROSS JOIN generate_series(1, p.organizations) AS o
JOIN (VALUES (0, 'Acme Fitness', 'acme-fitness', 'USD', 1.0),
             (1, 'Lumen Odontologia', 'lumen-odontologia', 'BRL', 5.0),
             (2, 'Vela Solar', 'vela-solar', 'EUR', 0.9),
             (3, 'Kite Academy', 'kite-academy', 'USD', 1.0),
             (4, 'Norte Imóveis', 'norte-imoveis', 'BRL', 5.0),
             (5, 'Orbit Insurance', 'orbit-insurance', 'EUR', 0.9))
     AS n (k, name, slug, currency, fx) ON n.k = (o - 1) % 6;

-- Campaign archetypes: the truth a correlation table should recover.
--   cheap_poor: low CPL, leads rarely buy, cheap deals, pixel over-reports most
--   dear_good:  high CPL, leads buy often and big
CREATE TEMP TABLE sample_archetypes ON COMMIT DROP AS
SELECT * FROM (VALUES
    ('cheap_poor', 9.0,  0.06,  0.30, 400.0,  3.0),
    ('cheap_good', 14.0, 0.18,  0.50, 700.0,  1.5),
    ('balanced',   28.0, 0.15,  0.42, 900.0,  1.6),
    ('dear_good',  65.0, 0.28,  0.58, 1800.0, 0.8),
    ('dear_poor',  55.0, 0.07,  0.28, 700.0,  0.8)
) AS a (archetype, cpl_usd, deal_rate, won_share, deal_value_usd, daily_volume);

-- Ten campaign templates per organization: six on Meta, four on Google.
CREATE TEMP TABLE sample_campaigns ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY o.org_idx, t.c)::integer        AS campaign_idx,
       o.org_idx, o.org_id, o.currency, t.c, t.source, t.archetype, t.name AS campaign_name,
       t.video_share, t.ads_per_set,
       pg_temp.sample_platform_id(p.seed, 101, o.org_idx * 100 + t.c,
                                  CASE t.source WHEN 'meta' THEN '1202' ELSE '2' END,
                                  CASE t.source WHEN 'meta' THEN 14 ELSE 9 END) AS campaign_id,
       a.cpl_usd * o.fx * (0.8 + 0.4 * pg_temp.sample_u(p.seed, 102, o.org_idx * 100 + t.c)) AS cpl,
       a.deal_rate * (0.8 + 0.4 * pg_temp.sample_u(p.seed, 103, o.org_idx * 100 + t.c))     AS deal_rate,
       a.won_share,
       a.deal_value_usd * o.fx * (0.8 + 0.4 * pg_temp.sample_u(p.seed, 104, o.org_idx * 100 + t.c)) AS deal_value,
       a.daily_volume * o.size                                            AS daily_volume,
       -- platform conversions per real lead, and platform revenue per real revenue
       CASE t.source WHEN 'meta' THEN 1.05 + 0.45 * pg_temp.sample_u(p.seed, 105, o.org_idx * 100 + t.c)
                     ELSE 0.85 + 0.3 * pg_temp.sample_u(p.seed, 105, o.org_idx * 100 + t.c) END AS pixel_conversions,
       CASE WHEN t.source = 'meta' AND t.archetype LIKE 'cheap%'
            THEN 2.0 + 2.0 * pg_temp.sample_u(p.seed, 106, o.org_idx * 100 + t.c)
            WHEN t.source = 'meta' THEN 1.1 + 0.6 * pg_temp.sample_u(p.seed, 106, o.org_idx * 100 + t.c)
            ELSE 0.8 + 0.5 * pg_temp.sample_u(p.seed, 106, o.org_idx * 100 + t.c) END AS pixel_value,
       -- most campaigns run the whole window; some start later
       CASE WHEN pg_temp.sample_u(p.seed, 107, o.org_idx * 100 + t.c) < 0.7 THEN 0
            ELSE floor(pg_temp.sample_u(p.seed, 108, o.org_idx * 100 + t.c) * p.days / 2)::integer END AS start_day
FROM sample_params p
CROSS JOIN sample_orgs o
CROSS JOIN (VALUES
    (1,  'meta',   'cheap_poor', 'Prospecting | Broad | Instant Form', 0.7, 3),
    (2,  'meta',   'dear_good',  'Retargeting | Site Visitors 30d',    0.5, 3),
    (3,  'meta',   'balanced',   'Lookalike 1% | Customers',          0.6, 3),
    (4,  'meta',   'cheap_poor', 'Giveaway | Lead Ads',                0.8, 3),
    (5,  'meta',   'dear_good',  'Webinar | Warm Audiences',           0.5, 3),
    (6,  'meta',   'dear_poor',  'Advantage+ | Interests',             0.6, 3),
    (7,  'google', 'dear_good',  'Search | Brand',                     0.0, 2),
    (8,  'google', 'cheap_poor', 'YouTube | Demand Gen',               1.0, 2),
    (9,  'google', 'balanced',   'Search | Generic Terms',             0.0, 2),
    (10, 'google', 'cheap_good', 'Performance Max',                    0.3, 2)
) AS t (c, source, archetype, name, video_share, ads_per_set)
JOIN sample_archetypes a ON a.archetype = t.archetype;

-- Ads: two ad sets (ad groups) per campaign, two or three ads each. A few ads were paused after a
-- short test (a handful of days, few leads): the small samples a recommendation must not judge.
CREATE TEMP TABLE sample_ads ON COMMIT DROP AS
WITH ads AS (
    SELECT c.*, s AS ad_set_no, a AS ad_no,
           c.campaign_idx * 100 + s * 10 + a                                       AS ad_key,
           pg_temp.sample_platform_id(p.seed, 111, c.campaign_idx * 10 + s,
                                      CASE c.source WHEN 'meta' THEN '1202' ELSE '1' END,
                                      CASE c.source WHEN 'meta' THEN 14 ELSE 10 END) AS ad_set_id,
           p.days
    FROM sample_params p
    CROSS JOIN sample_campaigns c
    CROSS JOIN generate_series(1, 2) AS s
    CROSS JOIN LATERAL generate_series(1, c.ads_per_set) AS a
), shaped AS (
    SELECT ads.*,
           pg_temp.sample_platform_id(p.seed, 112, ad_key,
                                      CASE source WHEN 'meta' THEN '1202' ELSE '6' END,
                                      CASE source WHEN 'meta' THEN 14 ELSE 11 END) AS ad_id,
           pg_temp.sample_u(p.seed, 113, ad_key) < video_share                     AS is_video,
           pg_temp.sample_u(p.seed, 114, ad_key) < 0.12                            AS paused,
           pg_temp.sample_u(p.seed, 115, ad_key)                                   AS u_window,
           pg_temp.sample_u(p.seed, 116, ad_key)                                   AS u_length,
           0.5 + pg_temp.sample_u(p.seed, 117, ad_key)                             AS jitter,
           0.10 + 0.35 * pg_temp.sample_u(p.seed, 118, ad_key)                     AS hook_rate,
           0.15 + 0.35 * pg_temp.sample_u(p.seed, 119, ad_key)                     AS hold_rate,
           0.004 + 0.026 * pg_temp.sample_u(p.seed, 120, ad_key)                   AS ctr,
           (CASE source WHEN 'meta' THEN 6.0 ELSE 9.0 END)
               * (0.6 + 0.8 * pg_temp.sample_u(p.seed, 121, ad_key))               AS cpm_usd
    FROM sample_params p CROSS JOIN ads
), windowed AS (
    SELECT shaped.*,
           CASE WHEN paused THEN least(3 + floor(u_length * 8)::integer, days - start_day)
                ELSE days - start_day END                                          AS active_days
    FROM shaped
), named AS (
SELECT row_number() OVER (ORDER BY org_idx, campaign_idx, ad_set_no, ad_no)::integer AS ad_idx,
       w.*,
       w.campaign_name || ' | ' || CASE ad_set_no WHEN 1 THEN 'Set A' ELSE 'Set B' END AS ad_set_name,
       CASE WHEN is_video THEN 'Video ' ELSE CASE source WHEN 'meta' THEN 'Image ' ELSE 'Text ' END END
           || lpad((ad_set_no * 10 + ad_no)::text, 2, '0')
           || (ARRAY[' - Testimonial', ' - Offer', ' - Founder', ' - Before/After', ' - UGC', ' - Demo'])
              [1 + (ad_key % 6)]                                                   AS ad_name,
       -- paused ads ran a short stretch somewhere inside their campaign's window
       CASE WHEN paused THEN start_day + floor(u_window * (days - start_day - active_days + 1))::integer
            ELSE start_day END                                                     AS first_day,
       daily_volume * jitter * CASE WHEN paused THEN 0.6 ELSE 1.0 END              AS ad_daily_volume,
       CASE WHEN source = 'google' AND is_video THEN 'paid_video'
            WHEN source = 'google' THEN 'paid_search' ELSE 'paid_social' END       AS channel,
       CASE source WHEN 'google' THEN 'cpc' ELSE 'paid_social' END                AS utm_medium,
       trim(both '_' FROM lower(regexp_replace(campaign_name, '[^A-Za-z0-9]+', '_', 'g'))) AS utm_campaign,
       -- this ad as touchpoint JSON members (source and timestamp are added per touch)
       format('"channel": "%s", "medium": "%s", "campaign_id": "%s", "ad_id": "%s"',
              CASE WHEN source = 'google' AND is_video THEN 'paid_video'
                   WHEN source = 'google' THEN 'paid_search' ELSE 'paid_social' END,
              CASE source WHEN 'google' THEN 'cpc' ELSE 'paid_social' END,
              campaign_id, ad_id)                                                  AS touch_members
FROM windowed w
)
SELECT named.*,
       trim(both '_' FROM lower(regexp_replace(ad_name, '[^A-Za-z0-9]+', '_', 'g'))) AS utm_content
FROM named;

-- Each organization's ads are one contiguous ad_idx range (touchpoints pick other ads of the same org).
CREATE TEMP TABLE sample_org_ads ON COMMIT DROP AS
SELECT org_idx, min(ad_idx) AS first_ad_idx, count(*)::integer AS ad_count,
       sum(ad_daily_volume * active_days) AS volume
FROM sample_ads GROUP BY org_idx;

-- Where a paid lead lands: cumulative share of each ad's expected leads over the whole window.
CREATE TEMP TABLE sample_ad_weights ON COMMIT DROP AS
SELECT ad_idx,
       ad_daily_volume * active_days / sum(ad_daily_volume * active_days) OVER ()          AS share,
       coalesce(sum(ad_daily_volume * active_days) OVER (ORDER BY ad_idx ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
           / sum(ad_daily_volume * active_days) OVER ()                                    AS cum_low
FROM sample_ads;

-- Where an organic lead lands: organizations in proportion to their paid volume.
CREATE TEMP TABLE sample_org_weights ON COMMIT DROP AS
SELECT org_idx,
       coalesce(sum(volume) OVER (ORDER BY org_idx ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
           / sum(volume) OVER () AS cum_low
FROM sample_org_ads;
