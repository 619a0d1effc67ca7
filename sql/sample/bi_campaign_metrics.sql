-- What the ad platforms report: one row per ad per day it ran, for the same ads and days the CRM
-- leads came from. Spend follows the leads each ad is expected to bring at its campaign's cost per
-- lead; conversions and conversion_value are the pixel's view (Meta's over-counts, most of all on
-- the cheap campaigns), not the CRM's; video ads carry 3-second views at their hook rate.

INSERT INTO campaign_metrics (organization_id, source, campaign_id, ad_set_id, ad_id, date, campaign_name, ad_name,
                              currency, spend, impressions, clicks, conversions, conversion_value,
                              video_3s_views, thruplays, ingested_at)
SELECT m.org_id, m.source, m.campaign_id, m.ad_set_id, m.ad_id, m.date, m.campaign_name, m.ad_name,
       m.currency, m.spend, m.impressions, m.clicks, m.conversions,
       CASE WHEN m.conversions = 0 THEN 0
            ELSE round((m.conversions * m.revenue_per_lead * m.pixel_value / m.pixel_conversions
                        * (0.7 + 0.6 * pg_temp.sample_u(m.seed, 305, m.day_key)))::numeric, 2) END,
       m.video_3s_views,
       round(m.video_3s_views * m.hold_rate * (0.9 + 0.2 * pg_temp.sample_u(m.seed, 306, m.day_key)))::bigint,
       (m.date + 1)::timestamp AT TIME ZONE 'UTC'
FROM (
    SELECT e.*,
           round(e.impressions * e.ctr * (0.8 + 0.4 * pg_temp.sample_u(e.seed, 303, e.day_key)))::bigint AS clicks,
           CASE WHEN e.is_video
                THEN round(e.impressions * e.hook_rate * (0.9 + 0.2 * pg_temp.sample_u(e.seed, 304, e.day_key)))::bigint
                ELSE 0 END                                                             AS video_3s_views
    FROM (
        SELECT s.*,
               round(s.spend / (s.cpm_usd * s.fx) * 1000)::bigint                     AS impressions
        FROM (
            SELECT a.*, o.fx, p.seed,
                   (p.window_start AT TIME ZONE 'UTC')::date + d                       AS date,
                   a.ad_idx::bigint * 100000 + d                                       AS day_key,
                   a.deal_rate * a.won_share * a.deal_value * 1.08                     AS revenue_per_lead,
                   round((a.cpl * ex.leads_per_day
                          * (0.7 + 0.6 * pg_temp.sample_u(p.seed, 301, a.ad_idx::bigint * 100000 + d)))::numeric, 2) AS spend,
                   floor(ex.leads_per_day * a.pixel_conversions
                         * (0.7 + 0.6 * pg_temp.sample_u(p.seed, 302, a.ad_idx::bigint * 100000 + d))
                         + pg_temp.sample_u(p.seed, 307, a.ad_idx::bigint * 100000 + d))  AS conversions
            FROM sample_ads a
            JOIN sample_ad_weights w ON w.ad_idx = a.ad_idx
            JOIN sample_orgs o ON o.org_idx = a.org_idx
            CROSS JOIN sample_params p
            CROSS JOIN LATERAL (SELECT p.leads * (1 - p.organic_share) * w.share / a.active_days AS leads_per_day) AS ex
            CROSS JOIN LATERAL generate_series(a.first_day, a.first_day + a.active_days - 1) AS d
        ) AS s
    ) AS e
) AS m
ORDER BY m.ad_idx, m.date;
