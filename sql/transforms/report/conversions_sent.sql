-- CRM outcomes reported back to each ad platform over the last 7 days (by when each event's status
-- last changed), and what waits now.
SELECT platform,
       count(*) FILTER (WHERE status = 'sent' AND updated_at >= now() - interval '7 days') AS sent,
       count(*) FILTER (WHERE status = 'rejected' AND updated_at >= now() - interval '7 days') AS rejected,
       count(*) FILTER (WHERE status = 'expired' AND updated_at >= now() - interval '7 days') AS expired,
       count(*) FILTER (WHERE status = 'skipped_consent' AND updated_at >= now() - interval '7 days')
           AS skipped_consent,
       count(*) FILTER (WHERE status = 'pending') AS pending
  FROM public.conversions_outbox
 WHERE %(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid
 GROUP BY platform
 ORDER BY platform
