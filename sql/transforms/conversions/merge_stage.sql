-- New events enter the outbox as pending; a pending event picks up its lead's latest identifiers,
-- consent and its deal's amount. Events already sent, rejected, expired or skipped are never touched.
WITH merged AS (
    INSERT INTO conversions_outbox AS o (
        event_id, platform, organization_id, lead_id, deal_id, event_kind, event_time, value, currency,
        click_id, click_time, email_sha256, phone_sha256, ad_user_data_consent, ad_personalization_consent)
    SELECT event_id, platform, organization_id, lead_id, deal_id, event_kind, event_time, value, currency,
           click_id, click_time, email_sha256, phone_sha256, ad_user_data_consent, ad_personalization_consent
      FROM conversions_outbox_stage
    ON CONFLICT (event_id, platform) DO UPDATE
       SET value = excluded.value,
           currency = excluded.currency,
           click_id = excluded.click_id,
           email_sha256 = excluded.email_sha256,
           phone_sha256 = excluded.phone_sha256,
           ad_user_data_consent = excluded.ad_user_data_consent,
           ad_personalization_consent = excluded.ad_personalization_consent,
           updated_at = now()
     WHERE o.status = 'pending'
       AND (o.value, o.currency, o.click_id, o.email_sha256, o.phone_sha256,
            o.ad_user_data_consent, o.ad_personalization_consent)
           IS DISTINCT FROM
           (excluded.value, excluded.currency, excluded.click_id, excluded.email_sha256, excluded.phone_sha256,
            excluded.ad_user_data_consent, excluded.ad_personalization_consent)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
