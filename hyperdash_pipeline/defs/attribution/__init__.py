"""lead_attribution, attribution_credits and Markov: the assets and their blocking checks."""
