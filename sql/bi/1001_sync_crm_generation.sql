-- Which CRM each mirrored table was synced from (see sql/crm/1001_sync_generation.sql): the CRM's sync
-- generation and its cluster's system identifier, written in the same transaction as the data.
ALTER TABLE sync_state
    ADD COLUMN crm_generation        bigint,
    ADD COLUMN crm_system_identifier text;
