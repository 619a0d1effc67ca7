-- Constraints (primary key, unique, foreign key, exclusion) and other indexes of a table, with their
-- definitions, so a full rebuild can drop them, bulk-load, and recreate them exactly.
-- Parameter: table (regclass text). Referenced_by > 0 means another table's foreign key points here.
SELECT 'constraint' AS kind, c.conname AS name, pg_get_constraintdef(c.oid) AS definition,
       CASE c.contype WHEN 'f' THEN 2 ELSE 1 END AS create_order
FROM pg_constraint c
WHERE c.conrelid = %(table)s::regclass AND c.contype IN ('p', 'u', 'f', 'x')
UNION ALL
-- A partitioned table's index is printed `ON ONLY` (built on the parent alone, invalid until every partition has
-- its own); recreated on the whole table instead, as it was.
SELECT 'index', i.relname, regexp_replace(pg_get_indexdef(x.indexrelid), ' ON ONLY ', ' ON '), 0
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = %(table)s::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)
UNION ALL
SELECT 'referenced_by', c.conname, NULL, NULL
FROM pg_constraint c
WHERE c.confrelid = %(table)s::regclass AND c.contype = 'f' AND c.conrelid <> %(table)s::regclass;
