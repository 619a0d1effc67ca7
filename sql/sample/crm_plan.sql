-- One row per lead with every draw the CRM tables need (its ad, times, deals, follow-ups), so the
-- leads, deals, tasks, notes and activities inserts agree with each other. Stream numbers (the
-- second argument of sample_u) are fixed per purpose: changing one draw never shifts another.

CREATE TEMP TABLE sample_lead_plan ON COMMIT DROP AS
WITH thresholds AS (
    SELECT (SELECT array_agg(cum_low ORDER BY ad_idx) FROM sample_ad_weights)      AS ad_cum,
           (SELECT array_agg(cum_low ORDER BY org_idx) FROM sample_org_weights)    AS org_cum
), draws AS (
    SELECT i,
           pg_temp.sample_u(p.seed, 1, i) < p.organic_share                        AS organic,
           pg_temp.sample_u(p.seed, 2, i)                                          AS u_pick,
           pg_temp.sample_u(p.seed, 3, i)                                          AS u_day,
           floor(pg_temp.sample_u(p.seed, 4, i) * 86400)::integer                  AS second_of_day,
           pg_temp.sample_u(p.seed, 5, i)                                          AS u_touches,
           pg_temp.sample_u(p.seed, 6, i)                                          AS u_deal,
           pg_temp.sample_u(p.seed, 7, i) < 0.2                                    AS second_deal,
           pg_temp.sample_u(p.seed, 8, i)                                          AS u_stage1,
           pg_temp.sample_u(p.seed, 9, i)                                          AS u_stage2,
           exp(0.8 * (pg_temp.sample_u(p.seed, 10, i) + pg_temp.sample_u(p.seed, 11, i)
                      + pg_temp.sample_u(p.seed, 12, i) - 1.5))                    AS amount_factor1,
           0.3 + pg_temp.sample_u(p.seed, 13, i) * 0.6                             AS amount_factor2,
           pg_temp.sample_u(p.seed, 14, i)                                         AS u_deal1_created,
           pg_temp.sample_u(p.seed, 15, i)                                         AS u_deal2_created,
           pg_temp.sample_u(p.seed, 16, i)                                         AS u_deal1_closed,
           pg_temp.sample_u(p.seed, 17, i)                                         AS u_deal2_closed,
           pg_temp.sample_u(p.seed, 18, i)                                         AS u_status,
           pg_temp.sample_u(p.seed, 19, i) < 0.92                                  AS has_contact,
           pg_temp.sample_u(p.seed, 23, i)                                         AS u_tasks,
           pg_temp.sample_u(p.seed, 24, i) < 0.15                                  AS extra_note,
           floor(pg_temp.sample_u(p.seed, 25, i) * 3)::integer                     AS activities,
           pg_temp.sample_u(p.seed, 26, i) < 0.005                                 AS deleted,
           pg_temp.sample_u(p.seed, 29, i)                                         AS u_updated,
           width_bucket(pg_temp.sample_u(p.seed, 2, i), t.ad_cum)                  AS paid_ad_idx,
           width_bucket(pg_temp.sample_u(p.seed, 2, i), t.org_cum)                 AS organic_org_idx
    FROM sample_params p
    CROSS JOIN thresholds t
    CROSS JOIN generate_series(p.first_lead, p.last_lead) AS i
    OFFSET 0  -- an optimisation fence: later stages read columns, not re-expanded formulas
), placed AS (
    SELECT d.*,
           CASE WHEN d.organic THEN NULL ELSE d.paid_ad_idx END                    AS ad_idx,
           coalesce(a.org_idx, d.organic_org_idx)                                  AS org_idx,
           p.window_start
             + ((CASE WHEN d.organic THEN floor(d.u_day * p.days)::integer
                      ELSE a.first_day + floor(d.u_day * a.active_days)::integer END) * 86400
                + d.second_of_day) * interval '1 second'                          AS created_at,
           CASE WHEN d.organic THEN 0.12 ELSE a.deal_rate END                      AS deal_rate,
           CASE WHEN d.organic THEN 0.45 ELSE a.won_share END                      AS won_share,
           CASE WHEN d.organic THEN NULL ELSE a.deal_value END                     AS campaign_deal_value,
           p.window_end
    FROM draws d
    CROSS JOIN sample_params p
    LEFT JOIN sample_ads a ON a.ad_idx = d.paid_ad_idx AND NOT d.organic
    OFFSET 0
), dealt AS (
    SELECT pl.*, o.org_id, o.currency,
           coalesce(pl.campaign_deal_value, 800.0 * o.fx)                          AS deal_value,
           CASE WHEN pl.u_deal >= pl.deal_rate THEN 0 WHEN pl.second_deal THEN 2 ELSE 1 END AS deals,
           -- a deal opens within two weeks of the lead and closes within a month, never after today
           pg_temp.sample_after(pl.created_at, pl.window_end, 14 * 86400, pl.u_deal1_created * 0.6) AS deal1_created_at
    FROM placed pl
    JOIN sample_orgs o ON o.org_idx = pl.org_idx
    OFFSET 0
), staged AS (
    SELECT dl.*,
           pg_temp.sample_after(dl.deal1_created_at, dl.window_end, 60 * 86400, dl.u_deal2_created) AS deal2_created_at,
           CASE WHEN dl.deals = 0 THEN NULL
                WHEN dl.u_stage1 < dl.won_share THEN 'won'
                WHEN dl.u_stage1 < dl.won_share + (1 - dl.won_share) * 0.75 THEN 'lost'
                ELSE 'open' END                                                    AS deal1_stage,
           CASE WHEN dl.deals < 2 THEN NULL
                WHEN dl.u_stage2 < dl.won_share THEN 'won'
                WHEN dl.u_stage2 < dl.won_share + (1 - dl.won_share) * 0.75 THEN 'lost'
                ELSE 'open' END                                                    AS deal2_stage,
           round((dl.deal_value * dl.amount_factor1)::numeric, 2)                  AS deal1_amount,
           round((dl.deal_value * dl.amount_factor2)::numeric, 2)                  AS deal2_amount
    FROM dealt dl
    OFFSET 0
), closed AS (
    SELECT s.*,
           CASE WHEN s.deal1_stage IN ('won', 'lost')
                THEN pg_temp.sample_after(s.deal1_created_at, s.window_end, 30 * 86400, s.u_deal1_closed) END
                                                                                   AS deal1_closed_at,
           CASE WHEN s.deal2_stage IN ('won', 'lost')
                THEN pg_temp.sample_after(s.deal2_created_at, s.window_end, 30 * 86400, s.u_deal2_closed) END
                                                                                   AS deal2_closed_at
    FROM staged s
    OFFSET 0
)
SELECT c.i, c.organic, c.ad_idx, c.org_idx, c.org_id, c.currency, c.created_at, c.u_touches,
       -- the ids every table needs, hashed once here
       pg_temp.sample_uuid(p.seed, 'lead', c.i)                                    AS lead_id,
       CASE WHEN c.has_contact THEN pg_temp.sample_uuid(p.seed, 'contact', c.i) END AS contact_id,
       c.has_contact, c.u_tasks, c.extra_note, c.activities,
       c.deals, c.deal1_stage, c.deal2_stage, c.deal1_amount, c.deal2_amount,
       c.deal1_created_at, c.deal2_created_at, c.deal1_closed_at, c.deal2_closed_at,
       CASE WHEN 'won' IN (c.deal1_stage, c.deal2_stage) THEN 'won'
            WHEN 'open' IN (c.deal1_stage, c.deal2_stage) THEN 'qualified'
            WHEN 'lost' IN (c.deal1_stage, c.deal2_stage) THEN 'lost'
            WHEN c.window_end - c.created_at < interval '3 days'
                THEN CASE WHEN c.u_status < 0.7 THEN 'new' ELSE 'contacted' END
            WHEN c.u_status < 0.10 THEN 'new'
            WHEN c.u_status < 0.45 THEN 'contacted'
            WHEN c.u_status < 0.80 THEN 'unqualified'
            ELSE 'lost' END                                                        AS status,
       greatest(pg_temp.sample_after(c.created_at, c.window_end, 3 * 86400, c.u_updated),
                CASE WHEN c.deals >= 1 THEN c.deal1_created_at END, c.deal1_closed_at,
                CASE WHEN c.deals = 2 THEN c.deal2_created_at END, c.deal2_closed_at) AS updated_at,
       c.deleted
FROM closed c
CROSS JOIN sample_params p;
