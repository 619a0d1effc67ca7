"""The automation condition sensor is ours, running by default, covering every automated asset; the
interval knobs read whole seconds and refuse anything else with a message naming the variable."""

from __future__ import annotations

import pytest
from dagster import AutomationConditionSensorDefinition, DefaultSensorStatus

from hyperdash_pipeline.automation.intervals import (
    AUTOMATION_VAR,
    CRM_POLL_VAR,
    IntervalSettingError,
    interval_seconds,
)
from hyperdash_pipeline.definitions import defs
from hyperdash_pipeline.defs.automation.sensor import AUTOMATION_SENSOR_NAME


def test_one_automation_sensor_running_by_default_covers_every_automated_asset() -> None:
    repository = defs.get_repository_def()
    automation = [s for s in repository.sensor_defs if isinstance(s, AutomationConditionSensorDefinition)]
    assert [s.name for s in automation] == [AUTOMATION_SENSOR_NAME], "and no STOPPED default sensor beside it"
    sensor = automation[0]
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    graph = repository.asset_graph
    automated = {key for key in graph.materializable_asset_keys if graph.get(key).automation_condition is not None}
    assert automated, "the analytics assets declare automation conditions"
    assert automated <= sensor.asset_selection.resolve(graph)


def test_every_sensor_and_schedule_runs_in_a_fresh_instance() -> None:
    repository = defs.get_repository_def()
    assert {s.name: s.default_status.value for s in repository.sensor_defs} == {
        AUTOMATION_SENSOR_NAME: "RUNNING",
        "crm_changes_sensor": "RUNNING",
        "send_conversions_sensor": "RUNNING",
        "organization_partitions": "RUNNING",
    }
    assert {s.name for s in repository.schedule_defs if s.default_status.value != "RUNNING"} == set()


@pytest.mark.parametrize("variable", [CRM_POLL_VAR, AUTOMATION_VAR])
def test_interval_knobs_read_whole_seconds(variable: str) -> None:
    assert interval_seconds(variable, 10, {}) == 10
    assert interval_seconds(variable, 10, {variable: ""}) == 10
    assert interval_seconds(variable, 10, {variable: " 45 "}) == 45


@pytest.mark.parametrize("raw", ["0", "-5", "2.5", "ten"])
def test_a_bad_interval_is_refused_with_the_variable_and_the_fix(raw: str) -> None:
    with pytest.raises(IntervalSettingError) as refused:
        interval_seconds(CRM_POLL_VAR, 10, {CRM_POLL_VAR: raw})
    message = str(refused.value)
    assert CRM_POLL_VAR in message and repr(raw) in message and "unset it for the default (10 s)" in message
