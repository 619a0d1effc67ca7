-- lead_attribution's row count kept by its refreshes, as attribution_credits' is (credit_rows), so that an
-- incremental refresh reports dagster/row_count without a count(*) of the whole table (0.15 s at 1M leads,
-- growing with the table). NULL: not known yet; the next refresh counts the table once.
ALTER TABLE analytics.attribution_state ADD COLUMN lead_rows bigint;

-- What a rebuild of one organization (the rebuild_organization job) changed in a table's row count. Several run
-- at once, so each appends its change here rather than updating attribution_state (the one row they would all
-- write makes concurrent REPEATABLE READ transactions fail each other); the table's next refresh adds the
-- changes it sees to its kept count and removes them.
CREATE TABLE analytics.attribution_row_changes (
    name  text   NOT NULL,  -- attribution_state.name: lead_attribution or attribution_credits
    delta bigint NOT NULL
);
