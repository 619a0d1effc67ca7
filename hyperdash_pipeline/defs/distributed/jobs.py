"""The analytics rebuild job, and the executor of every job (chosen by HYPERDASH_EXECUTOR at load time)."""

from dagster import AssetSelection, Definitions, define_asset_job

from hyperdash_pipeline.conventions import GROUP_ATTRIBUTION, GROUP_CORRELATION
from hyperdash_pipeline.distributed import ANALYTICS_JOB_NAME, executor

analytics_rebuild = define_asset_job(
    ANALYTICS_JOB_NAME,
    selection=AssetSelection.groups(GROUP_ATTRIBUTION, GROUP_CORRELATION),
    description="lead_attribution, credits, Markov and the correlation tables, in dependency order.",
)

defs = Definitions(jobs=[analytics_rebuild], executor=executor())
