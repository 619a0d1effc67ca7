-- Remove mirrored rows the CRM hard-deleted. Only a mirror version older than the delete goes: an id
-- deleted and then re-created in the CRM keeps its newer version.
DELETE FROM {target} AS t
USING {tombstones} AS d
WHERE t.id = d.id
  AND t.updated_at <= d.deleted_at
