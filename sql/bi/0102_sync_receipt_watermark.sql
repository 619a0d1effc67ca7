-- Where the CRM receipt (leads.attribution_synced) resumes: every CRM lead stamped before this either carries
-- its receipt or was changed since (and has a newer stamp). NULL until the first receipt: scan all leads once.
ALTER TABLE sync_state ADD COLUMN receipt_watermark timestamptz;
