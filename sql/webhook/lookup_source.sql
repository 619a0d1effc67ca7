-- The active webhook source named by id or slug, with the secrets that currently verify.
SELECT
    organization_id,
    slug,
    secret,
    CASE WHEN previous_expires_at > clock_timestamp() THEN previous_secret END AS previous_secret
FROM webhook_sources
WHERE active
  AND (organization_id::text = %(key)s OR slug = %(key)s)
LIMIT 1
