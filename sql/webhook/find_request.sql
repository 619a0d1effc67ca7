-- The earlier request a conflicting post collided with: the same signature (a replay) comes first.
SELECT lead_id, body_sha256, signature = %(signature)s AS same_signature
FROM webhook_requests
WHERE organization_id = %(organization_id)s
  AND (idempotency_key = %(idempotency_key)s OR signature = %(signature)s)
ORDER BY (signature = %(signature)s) DESC
LIMIT 1
