-- Tombstones for any primary key type. CRMs key their tables by uuid, bigint or text; 0101 stored the
-- deleted id as uuid, so a hard DELETE on a table keyed by bigint failed in its tombstone trigger. The id
-- is kept as text (every key type converts to it on assignment, the trigger is unchanged) and the sync
-- casts it back to the mirror's key type when it reads the tombstones. The table holds only the deletes of
-- the last days (the sync prunes it), so the rewrite is short. Applies to both kinds of CRM (a new one and
-- one adopted with `hyperdash migrate --existing-crm`).
ALTER TABLE sync_tombstones ALTER COLUMN id TYPE text USING id::text;
