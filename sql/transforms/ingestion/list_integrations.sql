-- The ad accounts to pull for one provider: every integration that is not disabled.
SELECT i.id, i.organization_id, o.slug, i.account_id, i.credentials_env_var
  FROM integrations AS i
  JOIN organizations AS o ON o.id = i.organization_id
 WHERE i.provider = %(provider)s
   AND i.status <> 'disabled'
 ORDER BY o.slug, i.account_id
