-- CRM events the conversions outbox may need: every live lead (Lead), leads at a qualified status
-- (qualified), and won deals of live leads (Purchase), among rows synced after %(since)s (NULL: all)
-- whose event is younger than %(horizon)s (older ones are past every platform's window).
WITH leads AS (
    SELECT l.*
      FROM crm_raw.leads AS l
     WHERE l.deleted_at IS NULL
       AND (%(since)s::timestamptz IS NULL OR l._synced_at > %(since)s::timestamptz)
)
SELECT 'lead' AS kind, l.id AS lead_id, NULL::uuid AS deal_id, l.organization_id,
       l.created_at AS event_time, NULL::numeric AS value, NULL::text AS currency,
       l.email, l.phone, l.fbclid, l.gclid, l.utm_source, l.created_at AS click_time,
       l.ad_user_data_consent, l.ad_personalization_consent
  FROM leads AS l
 WHERE l.created_at >= %(horizon)s
UNION ALL
SELECT 'qualified', l.id, NULL, l.organization_id,
       l.updated_at, NULL, NULL,
       l.email, l.phone, l.fbclid, l.gclid, l.utm_source, l.created_at,
       l.ad_user_data_consent, l.ad_personalization_consent
  FROM leads AS l
 WHERE l.status = ANY(%(qualified_statuses)s::text[])
   AND l.updated_at >= %(horizon)s
UNION ALL
SELECT 'purchase', l.id, d.id, l.organization_id,
       coalesce(d.closed_at, d.updated_at), d.amount, d.currency::text,
       l.email, l.phone, l.fbclid, l.gclid, l.utm_source, l.created_at,
       l.ad_user_data_consent, l.ad_personalization_consent
  FROM crm_raw.deals AS d
  JOIN crm_raw.leads AS l ON l.id = d.lead_id
 WHERE d.stage = 'won'
   AND d.deleted_at IS NULL
   AND l.deleted_at IS NULL
   AND coalesce(d.closed_at, d.updated_at) >= %(horizon)s
   AND (%(since)s::timestamptz IS NULL
        OR d._synced_at > %(since)s::timestamptz
        OR l._synced_at > %(since)s::timestamptz)
