-- Link an ad account to an organization; re-running it updates the credentials variable and
-- re-enables a disabled integration (status back to pending until the next sync).
INSERT INTO integrations (organization_id, provider, account_id, credentials_env_var)
VALUES (%(organization_id)s, %(provider)s, %(account_id)s, %(env)s)
ON CONFLICT (organization_id, provider, account_id) DO UPDATE
   SET credentials_env_var = excluded.credentials_env_var,
       status              = 'pending',
       last_error          = NULL,
       updated_at          = now()
