-- How many creatives got each recommendation.
SELECT recommendation, count(*) AS creatives
FROM ai_creative_insights
WHERE (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
GROUP BY recommendation
ORDER BY recommendation
