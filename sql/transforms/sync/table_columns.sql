-- A table's columns with their exact types (binary COPY needs them equal on both sides) and NOT NULL flag,
-- in order. _synced_at is the mirror's own column, not the CRM's.
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_attribute AS a
WHERE a.attrelid = to_regclass(%(table)s)
  AND a.attnum > 0
  AND NOT a.attisdropped
  AND a.attname <> '_synced_at'
ORDER BY a.attnum
