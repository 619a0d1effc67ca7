"""The conversions destinations (Meta Conversions API, Google Ads), configured from the environment."""

from dagster import Definitions

from hyperdash_pipeline.conversions.sender import conversions_resource

defs = Definitions(resources={"conversions": conversions_resource()})
