-- The next pending events of one organization for one platform, oldest first, after the keyset
-- (%(after_time)s, %(after_id)s). With FOR UPDATE SKIP LOCKED (appended by the sender) a concurrent
-- sender skips the rows this one holds; the dry run reads without locking.
SELECT event_id, event_kind, lead_id, deal_id, event_time, value, currency, click_id, click_time,
       email_sha256, phone_sha256, ad_user_data_consent, ad_personalization_consent, attempts
  FROM conversions_outbox
 WHERE platform = %(platform)s
   AND organization_id = %(organization_id)s
   AND status = 'pending'
   AND event_kind = ANY(%(kinds)s::text[])
   AND (event_time, event_id) > (%(after_time)s::timestamptz, %(after_id)s::uuid)
 ORDER BY event_time, event_id
 LIMIT %(limit)s
