-- The multi-touch outputs are fully derived from lead_attribution and lead_outcomes (both logged), so they
-- skip the write-ahead log: a full rebuild writes ~12 M credit rows at 1 M leads, and their WAL (3.8 GB)
-- cost a third of it. Trade-off (docs/attribution.md): after a crash PostgreSQL empties UNLOGGED tables,
-- and the next attribution_credits refresh sees it (credit_rows > 0 but no rows) and rebuilds in full;
-- streaming replicas do not receive them (read these tables on the primary).
ALTER TABLE analytics.attribution_credits SET UNLOGGED;
ALTER TABLE analytics.attribution_paths SET UNLOGGED;
ALTER TABLE analytics.markov_transitions SET UNLOGGED;

-- Rows in attribution_credits after the last refresh, kept by the refresh itself (a count(*) of 12 M rows
-- took 3 s of every incremental run); NULL until the first refresh after this migration.
ALTER TABLE analytics.attribution_state ADD COLUMN credit_rows bigint;
