-- campaign_metrics rows of one source that cannot be converted to their organization's reporting
-- currency, grouped by the missing conversion.
SELECT v.currency, v.reporting_currency, min(v.date) AS first_date, max(v.date) AS last_date, count(*) AS rows
  FROM analytics.campaign_metrics_reporting AS v
 WHERE v.source = %(source)s
   AND v.fx_rate IS NULL
 GROUP BY v.currency, v.reporting_currency
 ORDER BY count(*) DESC
