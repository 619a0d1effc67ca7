-- Leads whose won deals may have changed in a way the deal's current row cannot tell: the lead a deal was
-- moved away from, and the lead of a deal removed from the mirror. Queued for the next incremental
-- lead_attribution refresh, which then recomputes the outcomes of these leads and of the leads of deals synced
-- since its watermark, instead of aggregating every won deal and comparing with every stored outcome on every
-- run (0.15 s at 1M leads, growing with the table).
-- An update queues the lead the deal had before it (the sync's upsert fires the UPDATE trigger for the rows it
-- rewrites); a delete, the lead the deal had; a truncation (a full re-copy) queues a NULL marker, on which the
-- refresh compares every outcome once.
CREATE TABLE analytics.crm_deal_changes (
    lead_id uuid   -- NULL: crm_raw.deals was truncated
);

CREATE FUNCTION analytics.queue_crm_deal_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO analytics.crm_deal_changes (lead_id) VALUES (NULL);
    ELSE
        INSERT INTO analytics.crm_deal_changes (lead_id)
        SELECT DISTINCT lead_id FROM old_rows WHERE lead_id IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER crm_deal_changes_update AFTER UPDATE ON crm_raw.deals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.queue_crm_deal_changes();
CREATE TRIGGER crm_deal_changes_delete AFTER DELETE ON crm_raw.deals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics.queue_crm_deal_changes();
CREATE TRIGGER crm_deal_changes_truncate AFTER TRUNCATE ON crm_raw.deals
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.queue_crm_deal_changes();

-- Changes before this migration are unknown: the first refresh after it compares every outcome once.
INSERT INTO analytics.crm_deal_changes (lead_id) VALUES (NULL);
