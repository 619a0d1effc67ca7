-- New events enter the outbox as pending; a pending event picks up its lead's latest identifiers,
-- consent and its deal's amount. Events already sent, rejected, expired or skipped are never touched,
-- and neither are rows a sender holds right now (SKIP LOCKED: the build never waits on a batch in flight).
WITH inserted AS (
    INSERT INTO conversions_outbox (
        event_id, platform, organization_id, lead_id, deal_id, event_kind, event_time, value, currency,
        click_id, click_time, email_sha256, phone_sha256, ad_user_data_consent, ad_personalization_consent)
    SELECT event_id, platform, organization_id, lead_id, deal_id, event_kind, event_time, value, currency,
           click_id, click_time, email_sha256, phone_sha256, ad_user_data_consent, ad_personalization_consent
      FROM conversions_outbox_stage
    ON CONFLICT (event_id, platform) DO NOTHING
    RETURNING 1
),
changed AS (
    SELECT o.event_id, o.platform
      FROM conversions_outbox AS o
      JOIN conversions_outbox_stage AS s USING (event_id, platform)
     WHERE o.status = 'pending'
       AND (o.value, o.currency, o.click_id, o.email_sha256, o.phone_sha256,
            o.ad_user_data_consent, o.ad_personalization_consent)
           IS DISTINCT FROM
           (s.value, s.currency, s.click_id, s.email_sha256, s.phone_sha256,
            s.ad_user_data_consent, s.ad_personalization_consent)
       FOR UPDATE OF o SKIP LOCKED
),
updated AS (
    UPDATE conversions_outbox AS o
       SET value = s.value,
           currency = s.currency,
           click_id = s.click_id,
           email_sha256 = s.email_sha256,
           phone_sha256 = s.phone_sha256,
           ad_user_data_consent = s.ad_user_data_consent,
           ad_personalization_consent = s.ad_personalization_consent,
           updated_at = now()
      FROM changed AS c
      JOIN conversions_outbox_stage AS s USING (event_id, platform)
     WHERE o.event_id = c.event_id AND o.platform = c.platform
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM updated)
