-- Rows of {table} whose lead-to-customer rate breaks its contract: a rate and interval inside [0, 1]
-- with low <= rate <= high, customers <= leads, and all three NULL exactly when there are no leads.
SELECT organization_id::text AS organization_id, campaign_id, leads, customers,
       lead_to_customer_rate, lead_to_customer_rate_low, lead_to_customer_rate_high
FROM {table}
WHERE customers > leads
   OR (leads = 0) <> (lead_to_customer_rate IS NULL)
   OR (lead_to_customer_rate IS NULL) <> (lead_to_customer_rate_low IS NULL)
   OR (lead_to_customer_rate IS NULL) <> (lead_to_customer_rate_high IS NULL)
   OR lead_to_customer_rate_low < 0
   OR lead_to_customer_rate_high > 1
   OR lead_to_customer_rate_low > lead_to_customer_rate
   OR lead_to_customer_rate > lead_to_customer_rate_high
LIMIT 20
