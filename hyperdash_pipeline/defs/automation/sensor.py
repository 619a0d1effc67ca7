"""The automation condition sensor, declared so that it runs in a fresh instance.

Dagster adds `default_automation_condition_sensor` by itself when no sensor covers the assets that
have automation conditions, but that one is STOPPED in a fresh instance: nothing downstream of the
CRM mirror would rebuild until someone turned it on in the UI. Declared here it is RUNNING by
default, ticks at `HYPERDASH_AUTOMATION_SECONDS`, and covers every asset and check, so Dagster adds
no default sensor beside it.

Its runs take the Definitions' default executor (`hyperdash_pipeline.distributed.executor`): in
process unless HYPERDASH_EXECUTOR names Celery or Kubernetes, so one run worker process executes the
whole requested chain (lead_attribution, credits, Markov, correlation, report) instead of one
subprocess per step, each re-importing Dagster and the Definitions.
"""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
)

from hyperdash_pipeline.automation.intervals import automation_seconds

AUTOMATION_SENSOR_NAME = "analytics_automation_sensor"
AUTOMATION_RUN_TAGS = {"hyperdash/launched_by": AUTOMATION_SENSOR_NAME}

analytics_automation_sensor = AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR_NAME,
    target=AssetSelection.all() | AssetSelection.all_asset_checks(),
    minimum_interval_seconds=automation_seconds(),
    default_status=DefaultSensorStatus.RUNNING,
    run_tags=AUTOMATION_RUN_TAGS,
    description="Rebuilds attribution, correlation, insights and the report when an input's data changed "
    "and its blocking checks passed (hyperdash_pipeline/automation/conditions.py).",
)

defs = Definitions(sensors=[analytics_automation_sensor])

__all__ = ["AUTOMATION_SENSOR_NAME", "analytics_automation_sensor", "defs"]
