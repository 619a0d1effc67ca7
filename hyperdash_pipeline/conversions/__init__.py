"""Offline conversions: CRM outcomes (lead, qualified, purchase) sent back to Meta and Google Ads.

Its assets, job and sensor are in hyperdash_pipeline.defs.conversions."""
