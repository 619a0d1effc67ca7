-- Create a webhook source, or rotate its secret: the old one keeps verifying for the grace period.
INSERT INTO webhook_sources (organization_id, slug, secret)
VALUES (%(organization_id)s, %(slug)s, %(secret)s)
ON CONFLICT (organization_id) DO UPDATE SET
    slug                = coalesce(%(new_slug)s, webhook_sources.slug),
    previous_secret     = webhook_sources.secret,
    previous_expires_at = clock_timestamp() + make_interval(secs => %(grace_seconds)s),
    secret              = EXCLUDED.secret,
    active              = true,
    rotated_at          = clock_timestamp()
RETURNING slug, (xmax <> 0) AS rotated
