-- Every active webhook source with the secrets that verify now, loaded whole into each webhook worker
-- so a request's signature is checked before any database work (docs/webhook.md#abuse-controls).
SELECT
    organization_id,
    slug,
    secret,
    CASE WHEN previous_expires_at > clock_timestamp() THEN previous_secret END AS previous_secret,
    CASE WHEN previous_expires_at > clock_timestamp() THEN previous_expires_at END AS previous_expires_at
FROM webhook_sources
WHERE active
