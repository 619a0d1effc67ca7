-- Row count and an order-independent content checksum of a table's columns (verification only:
-- it reads the whole table).
SELECT count(*), coalesce(md5(string_agg(md5(ROW({columns})::text), '' ORDER BY id)), md5(''))
FROM {table}
