-- The incremental sync's watermarks, one row per mirrored CRM table. A row is written in the same
-- BI transaction as the data it describes, so a crash can never leave data and watermark apart.
CREATE TABLE sync_state (
    table_name           text PRIMARY KEY,
    rows_watermark       timestamptz,   -- newest CRM updated_at applied to crm_raw.<table_name>
    tombstones_watermark timestamptz,   -- newest CRM sync_tombstones.deleted_at applied
    horizon              timestamptz,   -- upper bound (exclusive) the last run that moved rows read below
    rows_inserted        bigint NOT NULL DEFAULT 0,  -- by that run
    rows_updated         bigint NOT NULL DEFAULT 0,
    rows_deleted         bigint NOT NULL DEFAULT 0,
    full_refreshed_at    timestamptz,
    synced_at            timestamptz NOT NULL DEFAULT now()
);
