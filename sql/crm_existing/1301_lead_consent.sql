-- The consent columns of sql/crm/1301_lead_consent.sql for an existing CRM (the BI mirror expects
-- them). Additive, nullable, idempotent: safe on a large live table.
ALTER TABLE leads
    ADD COLUMN IF NOT EXISTS ad_user_data_consent       boolean,
    ADD COLUMN IF NOT EXISTS ad_personalization_consent boolean;
