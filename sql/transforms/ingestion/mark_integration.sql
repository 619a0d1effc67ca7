-- Record the outcome of a sync on its integration (last_synced_at moves only on success).
UPDATE integrations
   SET status         = %(status)s,
       last_error     = %(last_error)s,
       last_synced_at = CASE WHEN %(status)s = 'ok' THEN now() ELSE last_synced_at END,
       updated_at     = now()
 WHERE id = %(integration_id)s
