-- The sender's verdict on an integration used as a conversions destination (ingestion's status untouched).
UPDATE integrations
   SET conversions_status      = %(status)s,
       conversions_last_error  = %(last_error)s,
       conversions_last_sent_at = CASE WHEN %(status)s = 'ok' THEN now() ELSE conversions_last_sent_at END,
       updated_at              = now()
 WHERE id = %(integration_id)s
