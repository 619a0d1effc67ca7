INSERT INTO public.ai_creative_insights (organization_id, source, campaign_id, ad_id, recommendation, reason, evidence)
VALUES (%(organization_id)s, %(source)s, %(campaign_id)s, %(ad_id)s, %(recommendation)s, %(reason)s, %(evidence)s)
