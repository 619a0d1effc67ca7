-- First-order transition counts of every lead's collapsed path, per organization and dimension
-- (channel, campaign), read from the credits of one model (every model stores every touch of the path).
-- States: (start), the touches, then (conversion) for a customer (a won deal) or (null) otherwise.
-- Parameter: model (text).
WITH steps AS (
    SELECT c.organization_id, c.lead_id, c.channel, c.campaign_id,
           lag(c.channel) OVER w AS prev_channel,
           lag(c.campaign_id) OVER w AS prev_campaign,
           lead(c.touch_index) OVER w IS NULL AS is_last,
           o.lead_id IS NOT NULL AS converted
    FROM analytics.attribution_credits c
    LEFT JOIN analytics.lead_outcomes o ON o.lead_id = c.lead_id
    WHERE c.model = %(model)s
    WINDOW w AS (PARTITION BY c.lead_id ORDER BY c.touch_index)
)
SELECT s.organization_id, t.dimension, t.from_state, t.to_state, count(*) AS transitions
FROM steps s
CROSS JOIN LATERAL (
    VALUES ('channel', coalesce(s.prev_channel, '(start)'), s.channel),
           ('campaign', coalesce(s.prev_campaign, '(start)'), s.campaign_id),
           ('channel', CASE WHEN s.is_last THEN s.channel END, CASE WHEN s.converted THEN '(conversion)' ELSE '(null)' END),
           ('campaign', CASE WHEN s.is_last THEN s.campaign_id END, CASE WHEN s.converted THEN '(conversion)' ELSE '(null)' END)
) AS t (dimension, from_state, to_state)
WHERE t.from_state IS NOT NULL
GROUP BY s.organization_id, t.dimension, t.from_state, t.to_state;
