-- Copy each creative's fresh recommendation into creative_performance (same transaction as both tables).
UPDATE analytics.creative_performance AS cp
SET recommendation = i.recommendation
FROM public.ai_creative_insights AS i
WHERE i.organization_id = cp.organization_id
  AND i.source = cp.source
  AND i.campaign_id = cp.campaign_id
  AND i.ad_id = cp.ad_id
