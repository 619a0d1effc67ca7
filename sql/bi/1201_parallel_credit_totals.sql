-- Parallel attribution rebuild (issue #18): the credits refresh may rebuild organizations in several BI
-- sessions at once. Two sessions adding to the same analytics.campaign_credit_totals rows would wait on
-- each other (an organization split by lead-id range) or deadlock, so each part sets the transaction-local
-- setting hyperdash.credit_totals_deferred = 'on' and the refresh regroups the totals once after the parts
-- (hyperdash_pipeline/attribution/parallel.py). Any other writer keeps the statement trigger of 0302.
CREATE OR REPLACE FUNCTION analytics.apply_credit_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('hyperdash.credit_totals_deferred', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM analytics.campaign_credit_totals;
        RETURN NULL;
    END IF;
    EXECUTE format($sql$
        INSERT INTO analytics.campaign_credit_totals AS t
        SELECT organization_id, campaign_id, sum(sign),
               sum(sign * first_touch), sum(sign * last_touch), sum(sign * linear),
               sum(sign * position_based), sum(sign * time_decay),
               sum(sign * first_touch_revenue), sum(sign * last_touch_revenue), sum(sign * linear_revenue),
               sum(sign * position_based_revenue), sum(sign * time_decay_revenue)
        FROM (%s) AS changed
        GROUP BY organization_id, campaign_id
        ON CONFLICT ON CONSTRAINT campaign_credit_totals_key DO UPDATE
        SET touches = t.touches + excluded.touches,
            first_touch = analytics.add_credit(t.first_touch, excluded.first_touch),
            last_touch = analytics.add_credit(t.last_touch, excluded.last_touch),
            linear = analytics.add_credit(t.linear, excluded.linear),
            position_based = analytics.add_credit(t.position_based, excluded.position_based),
            time_decay = analytics.add_credit(t.time_decay, excluded.time_decay),
            first_touch_revenue = analytics.add_credit(t.first_touch_revenue, excluded.first_touch_revenue),
            last_touch_revenue = analytics.add_credit(t.last_touch_revenue, excluded.last_touch_revenue),
            linear_revenue = analytics.add_credit(t.linear_revenue, excluded.linear_revenue),
            position_based_revenue = analytics.add_credit(t.position_based_revenue, excluded.position_based_revenue),
            time_decay_revenue = analytics.add_credit(t.time_decay_revenue, excluded.time_decay_revenue)
        $sql$,
        concat_ws(' UNION ALL ',
            CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN 'SELECT 1 AS sign, * FROM new_rows' END,
            CASE WHEN TG_OP IN ('DELETE', 'UPDATE') THEN 'SELECT -1 AS sign, * FROM old_rows' END));
    DELETE FROM analytics.campaign_credit_totals WHERE touches = 0;
    RETURN NULL;
END
$$;
