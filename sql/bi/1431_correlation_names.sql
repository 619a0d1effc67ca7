-- Names beside ids (issue 14): the correlation tables carry the latest campaign_name / ad_name of each id
-- in public.campaign_metrics (the name on its newest dated row that has one), so analysts read names.
-- A metric that does not apply is NULL: hook_rate (and hold_rate, already NULL then) of a row with no
-- video views at all, e.g. a Google search ad, is NULL, not 0%.

ALTER TABLE analytics.campaign_lead_quality ADD COLUMN campaign_name text;
ALTER TABLE analytics.creative_performance ADD COLUMN campaign_name text, ADD COLUMN ad_name text;
ALTER TABLE analytics.campaign_weekly ADD COLUMN campaign_name text;

-- Latest non-NULL name per campaign and per ad, for the rows written before this migration (the refresh
-- writes them from now on: a renamed campaign's metric rows change, which rebuilds that campaign).
CREATE TEMP TABLE _campaign_names AS
SELECT DISTINCT ON (organization_id, source, campaign_id) organization_id, source, campaign_id, campaign_name
FROM public.campaign_metrics
WHERE campaign_name IS NOT NULL
ORDER BY organization_id, source, campaign_id, date DESC, ingested_at DESC, id DESC;

CREATE TEMP TABLE _ad_names AS
SELECT DISTINCT ON (organization_id, source, campaign_id, ad_id) organization_id, source, campaign_id, ad_id, ad_name
FROM public.campaign_metrics
WHERE ad_name IS NOT NULL AND ad_id IS NOT NULL
ORDER BY organization_id, source, campaign_id, ad_id, date DESC, ingested_at DESC, id DESC;

UPDATE analytics.campaign_lead_quality AS t SET campaign_name = n.campaign_name
FROM _campaign_names AS n
WHERE (n.organization_id, n.source, n.campaign_id) = (t.organization_id, t.source, t.campaign_id);
UPDATE analytics.campaign_weekly AS t SET campaign_name = n.campaign_name
FROM _campaign_names AS n
WHERE (n.organization_id, n.source, n.campaign_id) = (t.organization_id, t.source, t.campaign_id);
UPDATE analytics.creative_performance AS t SET campaign_name = n.campaign_name
FROM _campaign_names AS n
WHERE (n.organization_id, n.source, n.campaign_id) = (t.organization_id, t.source, t.campaign_id);
UPDATE analytics.creative_performance AS t SET ad_name = n.ad_name
FROM _ad_names AS n
WHERE (n.organization_id, n.source, n.campaign_id, n.ad_id) = (t.organization_id, t.source, t.campaign_id, t.ad_id);

UPDATE analytics.campaign_lead_quality SET hook_rate = NULL, hold_rate = NULL WHERE video_3s_views = 0;
UPDATE analytics.creative_performance SET hook_rate = NULL, hold_rate = NULL WHERE video_3s_views = 0;
UPDATE analytics.campaign_weekly SET hook_rate = NULL, hold_rate = NULL WHERE video_3s_views = 0;

DROP TABLE _campaign_names, _ad_names;
