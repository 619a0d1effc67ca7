-- Where each organization's conversions go on one platform: its integrations with conversions_config
-- (the first by account id when there are several), with the organization's consent rule.
SELECT DISTINCT ON (i.organization_id)
       i.id, i.organization_id, o.slug, i.account_id, i.credentials_env_var, i.conversions_config,
       o.conversions_require_consent
  FROM integrations AS i
  JOIN organizations AS o ON o.id = i.organization_id
 WHERE i.provider = %(platform)s
   AND i.conversions_config IS NOT NULL
   AND i.status <> 'disabled'
 ORDER BY i.organization_id, i.account_id
