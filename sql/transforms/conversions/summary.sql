-- Conversions per platform and status over the last %(days)s days (by when the row last changed),
-- and what is pending now whatever its age.
SELECT platform,
       count(*) FILTER (WHERE status = 'sent' AND updated_at >= now() - make_interval(days => %(days)s)),
       count(*) FILTER (WHERE status = 'rejected' AND updated_at >= now() - make_interval(days => %(days)s)),
       count(*) FILTER (WHERE status = 'expired' AND updated_at >= now() - make_interval(days => %(days)s)),
       count(*) FILTER (WHERE status = 'skipped_consent' AND updated_at >= now() - make_interval(days => %(days)s)),
       count(*) FILTER (WHERE status = 'pending')
  FROM conversions_outbox
 GROUP BY platform
 ORDER BY platform
