"""Offline conversions: CRM outcomes (lead, qualified, purchase) sent back to Meta and Google Ads."""

from dagster import Definitions

from hyperdash_pipeline.conversions.assets import (
    conversions_delivery,
    conversions_outbox,
    send_conversions,
    send_conversions_sensor,
)
from hyperdash_pipeline.conversions.sender import conversions_resource

defs = Definitions(
    assets=[conversions_outbox, conversions_delivery],
    jobs=[send_conversions],
    sensors=[send_conversions_sensor],
    resources={"conversions": conversions_resource()},
)
