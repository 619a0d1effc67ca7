-- Change a fraction of the leads (new medium and one more touchpoint) and close 1,000 open deals,
-- as a sync would: _synced_at = now().
-- step: leads
UPDATE crm_raw.leads
SET utm_medium = 'changed', touchpoints = touchpoints || jsonb_build_array(jsonb_build_object(
        'timestamp', to_char((created_at - interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'channel', 'email')),
    _synced_at = now()
WHERE abs(hashtext(id::text)) %% 10000 < %(fraction)s * 10000;

-- step: deals
UPDATE crm_raw.deals
SET stage = 'won', closed_at = updated_at, _synced_at = now()
WHERE id IN (SELECT id FROM crm_raw.deals WHERE stage = 'open' ORDER BY id LIMIT 1000);
