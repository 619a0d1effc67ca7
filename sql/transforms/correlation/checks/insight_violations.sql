-- Creatives whose recommendation breaks the rule's guarantees: a creative of creative_performance without
-- a recommendation, or a call (pause/scale/keep) made on fewer leads than the rule's minimum.
SELECT cp.organization_id::text AS organization_id, cp.campaign_id, cp.ad_id, cp.leads,
       i.recommendation, 'missing recommendation' AS problem
FROM analytics.creative_performance AS cp
LEFT JOIN public.ai_creative_insights AS i
       ON (i.organization_id, i.source, i.campaign_id, i.ad_id) = (cp.organization_id, cp.source, cp.campaign_id, cp.ad_id)
WHERE cp.ad_id IS NOT NULL AND (i.id IS NULL OR cp.recommendation IS DISTINCT FROM i.recommendation)
UNION ALL
SELECT organization_id::text, campaign_id, ad_id, (evidence ->> 'leads')::bigint, recommendation,
       'call made below min_leads'
FROM public.ai_creative_insights
WHERE recommendation <> 'insufficient_data'
  AND (evidence ->> 'leads')::bigint < (evidence -> 'thresholds' ->> 'min_leads')::bigint
LIMIT 20
