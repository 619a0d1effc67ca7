"""Lead attribution: lead_attribution, multi-touch credits and Markov removal effects, computed in BI.

Its Dagster assets and checks are in hyperdash_pipeline.defs.attribution."""
