-- Every row of creative_performance (campaign-level rows with ad_id NULL included: they count in the
-- account baseline even though only real creatives get a recommendation).
SELECT organization_id, source, campaign_id, ad_id, leads, customers, spend::float8 AS spend, hook_rate,
       campaign_name, ad_name, currency
FROM analytics.creative_performance
ORDER BY organization_id, source, campaign_id, ad_id
