-- Reconciliation: per id bucket (the first hex digits of the uuid), the row count and an order-independent
-- fingerprint (sum of the first 64 bits of each row's md5, over the mirror's columns). One scan, hash aggregate.
SELECT left(id::text, %(prefix)s) AS bucket,
       count(*),
       sum(('x' || left(md5(ROW({values})::text), 16))::bit(64)::bigint::numeric)::text
FROM {table}
GROUP BY 1
