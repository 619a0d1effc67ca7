-- How many rows crm_raw.<table_name> holds, kept by the sync in the same BI transaction as the rows it writes
-- (a full copy sets the exact count, an incremental run adds its inserts and subtracts its deletes; the daily
-- reconciliation sets the count it read). The crm_raw assets show it as their row count instead of running
-- count(*) over every mirror on every run. NULL: not known yet; the next sync run counts the mirror once.
ALTER TABLE sync_state ADD COLUMN mirror_rows bigint;
