-- The credits storage and the paths, partitioned by range of lead_id (issue #18).
-- Why: a parallel full rebuild (attribution/parallel.py) splits the credits by ranges of lead ids. Its parts
-- wrote stage tables that one transaction then copied into these tables and indexed again, 5-7 s at 1M leads
-- with one core idle. Now each part indexes and analyses its own stage, and the load attaches the stages as
-- the partitions (attribution/staging.py): catalog changes, no copy and no index build.
-- The partitions are UNLOGGED, as the tables were (migration 0204; a partitioned table has no storage of its
-- own, and PostgreSQL 18 refuses an UNLOGGED one). They live in `public`, where the analyst role has no default
-- privileges (docs/security.md): readers go through the partitioned tables and the contract view.
-- Until the first parallel rebuild each table has one partition holding every lead id.

ALTER TABLE analytics.attribution_touch_credits RENAME TO attribution_touch_credits_unpartitioned;
ALTER INDEX analytics.attribution_touch_credits_pkey RENAME TO attribution_touch_credits_unpartitioned_pkey;
CREATE TABLE analytics.attribution_touch_credits (
    LIKE analytics.attribution_touch_credits_unpartitioned INCLUDING DEFAULTS,
    PRIMARY KEY (lead_id, touch_index)
) PARTITION BY RANGE (lead_id);
CREATE UNLOGGED TABLE public.attribution_touch_credits_0 PARTITION OF analytics.attribution_touch_credits
    FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
INSERT INTO analytics.attribution_touch_credits SELECT * FROM analytics.attribution_touch_credits_unpartitioned;

-- The contract view and the campaign totals' triggers (migrations 1101, 1805 and 0302), on the new table.
DROP VIEW analytics.attribution_credits;
DROP TABLE analytics.attribution_touch_credits_unpartitioned;

CREATE VIEW analytics.attribution_credits AS
SELECT c.organization_id, c.lead_id, c.touch_index, c.channel, c.campaign_id, c.ad_id,
       m.model, m.credit, m.revenue_credit, c.channel_raw
FROM analytics.attribution_touch_credits AS c
CROSS JOIN LATERAL (VALUES
    ('first_touch'::text, c.first_touch, c.first_touch_revenue),
    ('last_touch', c.last_touch, c.last_touch_revenue),
    ('linear', c.linear, c.linear_revenue),
    ('position_based', c.position_based, c.position_based_revenue),
    ('time_decay', c.time_decay, c.time_decay_revenue)
) AS m (model, credit, revenue_credit)
WHERE m.credit IS NOT NULL;

COMMENT ON VIEW analytics.attribution_credits IS
    'Multi-touch credits, one row per lead x touch x configured model (docs/contracts.md#attribution-contract); '
    'stored in analytics.attribution_touch_credits, one row per lead x touch.';

CREATE TRIGGER credit_totals_insert AFTER INSERT ON analytics.attribution_touch_credits
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_credit_totals();
CREATE TRIGGER credit_totals_update AFTER UPDATE ON analytics.attribution_touch_credits
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_credit_totals();
CREATE TRIGGER credit_totals_delete AFTER DELETE ON analytics.attribution_touch_credits
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_credit_totals();
CREATE TRIGGER credit_totals_truncate AFTER TRUNCATE ON analytics.attribution_touch_credits
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.apply_credit_totals();

ALTER TABLE analytics.attribution_paths RENAME TO attribution_paths_unpartitioned;
ALTER INDEX analytics.attribution_paths_pkey RENAME TO attribution_paths_unpartitioned_pkey;
CREATE TABLE analytics.attribution_paths (
    LIKE analytics.attribution_paths_unpartitioned INCLUDING DEFAULTS,
    PRIMARY KEY (lead_id)
) PARTITION BY RANGE (lead_id);
CREATE UNLOGGED TABLE public.attribution_paths_0 PARTITION OF analytics.attribution_paths
    FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
INSERT INTO analytics.attribution_paths SELECT * FROM analytics.attribution_paths_unpartitioned;
DROP TABLE analytics.attribution_paths_unpartitioned;

ANALYZE analytics.attribution_touch_credits, analytics.attribution_paths;
