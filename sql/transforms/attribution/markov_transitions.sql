-- First-order transition counts per organization and dimension (kept by the attribution_credits refresh).
SELECT organization_id, dimension, from_state, to_state, transitions
FROM analytics.markov_transitions
WHERE transitions > 0;
