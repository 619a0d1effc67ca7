-- Insert the metric contract (docs/contracts.md#metric-contract) grouped by {keys} from the {grain} rows of correlation_base
-- into {target}.
-- Ratio of sums, never an average of ratios: every ratio divides two sums taken over the whole group,
-- and is NULL when its denominator is 0. hook_rate is also NULL without any video view (no video: n/a, not 0%).
-- Names: the latest per id, left in temp tables by the refresh's `names` step and joined USING the keys.
INSERT INTO {target} ({keys}, spend, impressions, clicks, conversions, conversion_value, video_3s_views, thruplays,
                      leads, customers, revenue,
                      lead_to_customer_rate, lead_to_customer_rate_low, lead_to_customer_rate_high,
                      cpl, cac, avg_deal_value, platform_cpa, platform_roas, real_roas,
                      hook_rate, hold_rate, ctr, currency{name_columns}{extra_columns})
SELECT {keys}, spend, impressions, clicks, conversions, conversion_value, video_3s_views, thruplays,
       leads, customers, revenue,
       customers::float8 / NULLIF(leads, 0),
       analytics.wilson_low(customers, leads),
       analytics.wilson_high(customers, leads),
       spend / NULLIF(leads, 0),
       spend / NULLIF(customers, 0),
       revenue / NULLIF(customers, 0),
       spend / NULLIF(conversions, 0),
       conversion_value / NULLIF(spend, 0),
       revenue / NULLIF(spend, 0),
       CASE WHEN video_3s_views > 0 THEN video_3s_views::float8 / NULLIF(impressions, 0) END,
       thruplays::float8 / NULLIF(video_3s_views, 0),
       clicks::float8 / NULLIF(impressions, 0),
       currency{name_columns}{extra_values}
FROM (
    SELECT {keys},
           sum(spend) AS spend,
           sum(impressions)::bigint AS impressions,
           sum(clicks)::bigint AS clicks,
           sum(conversions) AS conversions,
           sum(conversion_value) AS conversion_value,
           sum(video_3s_views)::bigint AS video_3s_views,
           sum(thruplays)::bigint AS thruplays,
           sum(leads)::bigint AS leads,
           sum(customers)::bigint AS customers,
           sum(revenue) AS revenue,
           CASE WHEN max(currencies) > 1 OR min(currency) <> max(currency) THEN 'mixed' ELSE max(currency) END AS currency
    FROM correlation_base
    WHERE grain = {grain}
    GROUP BY {keys}
) AS totals
{name_joins}
