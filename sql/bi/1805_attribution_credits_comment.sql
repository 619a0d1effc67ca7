-- The contract view's comment names docs/contracts.md (0205 named the founding brief, which is not in the
-- repository; 0205 now says the same, for new databases).
COMMENT ON VIEW analytics.attribution_credits IS
    'Multi-touch credits, one row per lead x touch x configured model (docs/contracts.md#attribution-contract); '
    'stored in analytics.attribution_touch_credits, one row per lead x touch.';
