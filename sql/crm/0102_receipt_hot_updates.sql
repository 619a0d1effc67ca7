-- Let the sync's receipt (leads.attribution_synced := true) be a HOT update.
--
-- leads_unsynced_idx (0001) referenced the flag in its predicate, so every receipt update had to insert a new
-- entry into each of the leads' indexes: 10,000 receipts cost ~0.35 s, the first receipt of 1M leads minutes.
-- With no index on the flag and room left on each page, the receipt rewrites the row in place on its page and
-- touches no index. The receipt now walks leads_updated_at_id_idx from its own watermark (BI sync_state,
-- bi/0102) instead of the partial index. fillfactor applies to pages written from now on; an existing CRM gets
-- the room as rows are rewritten (or at once with VACUUM FULL leads, which locks the table while it runs).
DROP INDEX IF EXISTS leads_unsynced_idx;
ALTER TABLE leads SET (fillfactor = 90);
