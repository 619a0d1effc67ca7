-- One lead_attribution row per live lead, judged up to the stored watermark so that a sync committing
-- after the refresh does not fail the check (the unique index on lead_id forbids duplicates).
WITH wm AS (
    SELECT coalesce((SELECT leads_synced_at FROM analytics.attribution_state WHERE name = 'lead_attribution'),
                    '-infinity'::timestamptz) AS synced
)
SELECT (SELECT count(*) FROM crm_raw.leads WHERE deleted_at IS NULL) AS live_leads,
       (SELECT count(*) FROM lead_attribution) AS rows,
       (SELECT count(*) FROM crm_raw.leads l, wm
         WHERE l.deleted_at IS NULL AND l._synced_at <= wm.synced
           AND NOT EXISTS (SELECT 1 FROM lead_attribution la WHERE la.lead_id = l.id)) AS missing,
       (SELECT count(*) FROM lead_attribution la
          LEFT JOIN crm_raw.leads l ON l.id = la.lead_id
         CROSS JOIN wm
         WHERE l.id IS NULL OR (l.deleted_at IS NOT NULL AND l._synced_at <= wm.synced)) AS orphans;
