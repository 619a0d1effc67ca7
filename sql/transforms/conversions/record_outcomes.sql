-- Each event's outcome, written in the transaction that holds its row lock since it was claimed.
UPDATE conversions_outbox AS o
   SET status = u.status,
       reason = u.reason,
       response = u.response,
       attempts = o.attempts + u.attempted::int,
       last_attempt_at = CASE WHEN u.attempted THEN now() ELSE o.last_attempt_at END,
       sent_at = CASE WHEN u.status = 'sent' THEN now() ELSE o.sent_at END,
       integration_id = %(integration_id)s,
       updated_at = now()
  FROM unnest(%(event_ids)s::uuid[], %(statuses)s::text[], %(reasons)s::text[], %(responses)s::jsonb[],
              %(attempted)s::boolean[]) AS u(event_id, status, reason, response, attempted)
 WHERE o.event_id = u.event_id
   AND o.platform = %(platform)s
