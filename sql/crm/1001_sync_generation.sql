-- Time travel of the CRM (restored from an older dump, failed over to a lagging replica) must be noticed by
-- the next sync (docs/sync.md, "A CRM that goes back in time").
--
-- 1. hyperdash_sync_generation: one row the sync bumps on every run, after taking its snapshot and before it
--    commits anything in BI; BI's sync_state records the generation each table was synced under. A CRM whose
--    generation is below the one BI recorded is older than what BI holds: the sync repairs BI.
-- 2. sync_tombstones_pruned: how far the sync has pruned each table's tombstones. A BI restored from a dump
--    older than that (its tombstones watermark below it) would miss deletes: that table is re-copied whole.
CREATE TABLE hyperdash_sync_generation (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint      NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE sync_tombstones_pruned (
    table_name    text        PRIMARY KEY,
    pruned_before timestamptz NOT NULL
);
