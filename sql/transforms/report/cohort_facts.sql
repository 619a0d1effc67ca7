-- The report's filterable facts per campaign, weekly lead cohort (the UTC week the leads were created, as
-- analytics.campaign_weekly) and period bucket (analytics.report_bucket of each lead's creation day): leads and
-- those that became customers. A week cut by a period's first day counts only its leads inside the period.
-- Only the campaigns the chart can draw (the orgs, sources and campaigns arrays: slices.cohort_campaigns).
SELECT la.organization_id::text AS organization_id, coalesce(la.source, 'organic') AS source, la.campaign_id,
       date_trunc('week', la.conversion_date)::date AS week,
       analytics.report_bucket(%(as_of)s, la.conversion_date::date) AS bucket,
       count(*) AS leads, count(*) FILTER (WHERE o.won_deals > 0) AS customers
FROM lead_attribution AS la
LEFT JOIN analytics.lead_outcomes AS o USING (lead_id)
WHERE (%(organization_id)s::uuid IS NULL OR la.organization_id = %(organization_id)s::uuid)
  AND (la.organization_id, coalesce(la.source, 'organic'), la.campaign_id) IN (
      SELECT o::uuid, s, c FROM unnest(%(orgs)s::text[], %(sources)s::text[], %(campaigns)s::text[]) AS k (o, s, c))
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2, 3, 4, 5
