-- The report's filterable facts of the conversions sent back to the ad platforms: events per organization,
-- platform (the source filter) and status, in the period bucket (analytics.report_bucket) of the UTC day their
-- status last changed; pending events are what waits now (bucket -1: every period).
SELECT organization_id::text AS organization_id, platform AS source, status,
       CASE WHEN status = 'pending' THEN -1
            ELSE analytics.report_bucket(%(as_of)s, (updated_at AT TIME ZONE 'UTC')::date) END AS bucket,
       count(*) AS events
FROM public.conversions_outbox
WHERE %(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
