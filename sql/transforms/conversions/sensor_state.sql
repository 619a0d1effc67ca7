-- (crm_raw moved past the outbox's watermark?, pending events, a fingerprint of both for the run key).
WITH s AS (
    SELECT greatest((SELECT max(_synced_at) FROM crm_raw.leads), (SELECT max(_synced_at) FROM crm_raw.deals)) AS synced,
           (SELECT watermark FROM conversions_outbox_state) AS watermark,
           (SELECT count(*) FROM conversions_outbox WHERE status = 'pending') AS pending,
           (SELECT max(updated_at) FROM conversions_outbox) AS touched
)
SELECT synced IS NOT NULL AND (watermark IS NULL OR synced > watermark),
       pending,
       concat_ws('/', synced, pending, touched)
  FROM s
