-- Consent a lead gave for advertising use of their data (Google's consent signals `ad_user_data` and
-- `ad_personalization`): true = granted, false = denied, NULL = not asked / unknown. Read by the
-- conversions outbox (docs/conversions.md#consent); nullable, so adding them rewrites no row.
ALTER TABLE leads
    ADD COLUMN ad_user_data_consent       boolean,
    ADD COLUMN ad_personalization_consent boolean;
