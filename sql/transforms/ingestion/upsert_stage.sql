-- Merge the staged rows into campaign_metrics by its grain (organization, source, campaign, ad set, ad,
-- day). Several staged rows of one grain (a CSV exported with age/placement breakdowns) are summed.
-- A row whose values did not change is left alone, so RETURNING lists only the dates that changed.
INSERT INTO campaign_metrics AS m (
    organization_id, source, account_id, campaign_id, ad_set_id, ad_id, date, campaign_name, ad_name,
    currency, spend, impressions, clicks, link_clicks, conversions, conversion_value, video_3s_views,
    thruplays, platform_actions, loaded_via, ingested_at)
SELECT s.organization_id,
       s.source,
       max(s.account_id),
       s.campaign_id,
       s.ad_set_id,
       s.ad_id,
       s.date,
       max(s.campaign_name),
       max(s.ad_name),
       max(s.currency),
       round(sum(s.spend), 2),
       sum(s.impressions),
       sum(s.clicks),
       sum(s.link_clicks),
       round(sum(s.conversions), 2),
       round(sum(s.conversion_value), 2),
       sum(s.video_3s_views),
       sum(s.thruplays),
       CASE WHEN count(*) = 1 THEN max(s.platform_actions::text)::jsonb
            ELSE (SELECT jsonb_object_agg(kv.key, kv.total)
                    FROM (SELECT e.key, sum(e.value::numeric) AS total
                            FROM unnest(array_agg(s.platform_actions)) AS pa(doc),
                                 jsonb_each_text(pa.doc) AS e
                           GROUP BY e.key) AS kv)
       END,
       %(loaded_via)s,
       now()
  FROM ad_metrics_stage AS s
 GROUP BY s.organization_id, s.source, s.campaign_id, s.ad_set_id, s.ad_id, s.date
ON CONFLICT ON CONSTRAINT campaign_metrics_grain DO UPDATE
   SET account_id       = coalesce(excluded.account_id, m.account_id),
       campaign_name    = excluded.campaign_name,
       ad_name          = excluded.ad_name,
       currency         = excluded.currency,
       spend            = excluded.spend,
       impressions      = excluded.impressions,
       clicks           = excluded.clicks,
       link_clicks      = excluded.link_clicks,
       conversions      = excluded.conversions,
       conversion_value = excluded.conversion_value,
       video_3s_views   = excluded.video_3s_views,
       thruplays        = excluded.thruplays,
       platform_actions = excluded.platform_actions,
       loaded_via       = excluded.loaded_via,
       ingested_at      = excluded.ingested_at
 WHERE (m.account_id, m.campaign_name, m.ad_name, m.currency, m.spend, m.impressions, m.clicks,
        m.link_clicks, m.conversions, m.conversion_value, m.video_3s_views, m.thruplays, m.platform_actions)
       IS DISTINCT FROM
       (coalesce(excluded.account_id, m.account_id), excluded.campaign_name, excluded.ad_name,
        excluded.currency, excluded.spend, excluded.impressions, excluded.clicks, excluded.link_clicks,
        excluded.conversions, excluded.conversion_value, excluded.video_3s_views, excluded.thruplays,
        excluded.platform_actions)
RETURNING m.date
