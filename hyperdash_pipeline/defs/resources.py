"""The two databases every concern reads and writes: `crm` and `bi`."""

from dagster import Definitions

from hyperdash_pipeline.resources import bi_resource, crm_resource

defs = Definitions(resources={"crm": crm_resource(), "bi": bi_resource()})
