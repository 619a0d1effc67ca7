-- A fingerprint of one provider's rows over a date range: equal fingerprints mean equal data, so a
-- restated day that did not change keeps its data version and triggers no downstream refresh.
SELECT md5(coalesce(string_agg(
           concat_ws('|', m.organization_id, m.campaign_id, m.ad_set_id, m.ad_id, m.date, m.currency,
                     m.spend, m.impressions, m.clicks, m.link_clicks, m.conversions, m.conversion_value,
                     m.video_3s_views, m.thruplays),
           E'\n' ORDER BY m.organization_id, m.campaign_id, m.ad_set_id, m.ad_id, m.date), '')),
       count(*)
  FROM campaign_metrics AS m
 WHERE m.source = %(source)s
   AND m.date BETWEEN %(date_from)s AND %(date_to)s
