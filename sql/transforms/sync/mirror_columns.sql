-- Columns (and their exact types: binary COPY needs them equal on both sides) of a table, in order.
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute AS a
WHERE a.attrelid = to_regclass(%(table)s)
  AND a.attnum > 0
  AND NOT a.attisdropped
  AND a.attname <> '_synced_at'
ORDER BY a.attnum
