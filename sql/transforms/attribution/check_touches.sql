-- Touches in vs out (docs/attribution.md#channels): every CRM touch lead_attribution accepted and the lookback
-- keeps is credited. In: the touchpoints of lead_attribution (the quarantined ones already removed) inside the
-- window of the last credits refresh. Out: the touches the credited rows stand for (collapsed repeats
-- included). Leads waiting in the change log are left out of both sides, as in check_credits.sql.
WITH settings AS (
    SELECT make_interval(days => (config ->> 'lookback_days')::int) AS lookback
    FROM analytics.attribution_state WHERE name = 'attribution_credits'
), settled AS (
    SELECT la.lead_id, la.touchpoints, la.conversion_date
    FROM lead_attribution la
    WHERE NOT EXISTS (SELECT 1 FROM analytics.lead_attribution_changes ch WHERE ch.lead_id = la.lead_id)
), touches AS (
    SELECT count(*) AS accepted,
           count(*) FILTER (WHERE (e ->> 'timestamp')::timestamptz AT TIME ZONE 'UTC'
                                  BETWEEN s.conversion_date - settings.lookback AND s.conversion_date) AS in_window
    FROM settled s
    CROSS JOIN settings
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(s.touchpoints) = 'array' THEN s.touchpoints END) AS e
)
SELECT touches.in_window AS touches_in,
       (SELECT coalesce(sum(c.touches), 0) FROM analytics.attribution_touch_credits c
         WHERE NOT EXISTS (SELECT 1 FROM analytics.lead_attribution_changes ch WHERE ch.lead_id = c.lead_id))
           AS touches_out,
       touches.accepted - touches.in_window AS outside_lookback,
       (SELECT count(*) FROM quarantine WHERE stage = 'lead_attribution' AND payload ? 'touch_index')
           AS quarantined_touches
FROM touches;
