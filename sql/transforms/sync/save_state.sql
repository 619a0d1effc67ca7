-- Record a table's new watermarks, in the same BI transaction as the rows they describe.
INSERT INTO sync_state AS s (
    table_name, rows_watermark, tombstones_watermark, horizon,
    rows_inserted, rows_updated, rows_deleted, full_refreshed_at, synced_at,
    crm_generation, crm_system_identifier, mirror_rows
)
VALUES (
    %(table_name)s, %(rows_watermark)s, %(tombstones_watermark)s, %(horizon)s,
    %(inserted)s, %(updated)s, %(deleted)s, CASE WHEN %(full)s THEN now() END, now(),
    %(crm_generation)s, %(crm_system_identifier)s, %(mirror_rows)s
)
ON CONFLICT (table_name) DO UPDATE SET
    rows_watermark       = EXCLUDED.rows_watermark,
    tombstones_watermark = EXCLUDED.tombstones_watermark,
    horizon              = EXCLUDED.horizon,
    rows_inserted        = EXCLUDED.rows_inserted,
    rows_updated         = EXCLUDED.rows_updated,
    rows_deleted         = EXCLUDED.rows_deleted,
    full_refreshed_at    = coalesce(EXCLUDED.full_refreshed_at, s.full_refreshed_at),
    synced_at            = EXCLUDED.synced_at,
    crm_generation       = coalesce(EXCLUDED.crm_generation, s.crm_generation),
    crm_system_identifier = coalesce(EXCLUDED.crm_system_identifier, s.crm_system_identifier),
    mirror_rows          = EXCLUDED.mirror_rows
