"""Lead attribution: lead_attribution, multi-touch credits and Markov removal effects, computed in BI."""

from __future__ import annotations

from dagster import Definitions

from hyperdash_pipeline.attribution.assets import attribution_credits, lead_attribution, markov_attribution
from hyperdash_pipeline.attribution.checks import (
    attribution_credits_keep_every_touch,
    attribution_credits_sum_to_one,
    lead_attribution_one_row_per_live_lead,
    markov_conversions_sum_to_customers,
)

__all__ = [
    "attribution_credits",
    "attribution_credits_keep_every_touch",
    "attribution_credits_sum_to_one",
    "defs",
    "lead_attribution",
    "lead_attribution_one_row_per_live_lead",
    "markov_attribution",
    "markov_conversions_sum_to_customers",
]

defs = Definitions(
    assets=[lead_attribution, attribution_credits, markov_attribution],
    asset_checks=[
        lead_attribution_one_row_per_live_lead,
        attribution_credits_sum_to_one,
        attribution_credits_keep_every_touch,
        markov_conversions_sum_to_customers,
    ],
)
