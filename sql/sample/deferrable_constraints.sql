-- Keys of the tables being loaded (%(tables)s, regclass names), foreign keys first: the foreign
-- keys on them or pointing at them, then their primary keys and unique constraints.
SELECT n.nspname, c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (k.contype = 'f' AND (k.conrelid = ANY(%(tables)s::regclass[]) OR k.confrelid = ANY(%(tables)s::regclass[])))
   OR (k.contype IN ('p', 'u') AND k.conrelid = ANY(%(tables)s::regclass[]))
ORDER BY k.contype = 'f' DESC, n.nspname, c.relname, k.conname
