-- Restatement: rows of this organization's ad account in the reloaded date range that the platform
-- no longer reports (an ad deleted, a day restated to nothing) go. Returns the dates that changed.
DELETE FROM campaign_metrics AS m
 WHERE m.organization_id = %(organization_id)s
   AND m.source = %(source)s
   AND m.account_id = %(account_id)s
   AND m.date BETWEEN %(date_from)s AND %(date_to)s
   AND NOT EXISTS (
        SELECT 1
          FROM ad_metrics_stage AS s
         WHERE s.organization_id = m.organization_id
           AND s.source = m.source
           AND s.campaign_id = m.campaign_id
           AND s.ad_set_id IS NOT DISTINCT FROM m.ad_set_id
           AND s.ad_id IS NOT DISTINCT FROM m.ad_id
           AND s.date = m.date)
RETURNING m.date
