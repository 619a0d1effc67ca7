COPY public.ai_creative_insights (organization_id, source, campaign_id, ad_id, recommendation, reason, evidence)
FROM STDIN
