"""The sync in Dagster: assets and checks materialized, full refresh by run config, the sensor's
change detection and run keys, the schedule, and `hyperdash sync` on a real instance."""

from __future__ import annotations

import psycopg
import pytest
from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_sensor_context,
    materialize,
)

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.conventions import CRM_TABLES, GROUP_CRM_SYNC, crm_raw_key, crm_source_key
from hyperdash_pipeline.definitions import build_definitions
from hyperdash_pipeline.defs.crm_sync.mirror import (
    SYNC_JOB_NAME,
    SYNC_OP_NAME,
    WINDOW_CHECK,
    crm_changes_sensor,
    crm_raw_sync,
    crm_source_specs,
    hourly_crm_sync,
)
from hyperdash_pipeline.settings import DAGSTER_URL_VAR, HOME_VAR, psycopg2_url
from tests.support.sync_data import assert_exact_mirror, insert_leads, populate


def _materialize(databases, **kwargs):
    return materialize(
        [*crm_source_specs(), crm_raw_sync], resources={"crm": databases.crm, "bi": databases.bi}, **kwargs
    )


def _metadata(result, table: str) -> dict[str, object]:
    (materialization,) = [
        m for m in result.asset_materializations_for_node(SYNC_OP_NAME) if m.asset_key == crm_raw_key(table)
    ]
    return {key: value.value for key, value in materialization.metadata.items()}


def _sense(databases, cursor: str | None = None) -> SensorResult | SkipReason:
    context = build_sensor_context(cursor=cursor, resources={"crm": databases.crm, "bi": databases.bi})
    return crm_changes_sensor(context)  # type: ignore[return-value]


def test_sync_assets_materialize_with_counts_watermark_and_lag(databases) -> None:
    populate(databases.crm_url, 40)

    result = _materialize(databases)

    assert result.success
    leads = _metadata(result, "leads")
    assert (leads["mode"], leads["rows_inserted"], leads["dagster/row_count"]) == ("full", 40, 40)
    assert {"rows_updated", "rows_deleted", "watermark", "lag_seconds", "upper_bound"} <= leads.keys()
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {WINDOW_CHECK}
    assert len(checks) == len(CRM_TABLES) and all(c.passed for c in checks)
    assert_exact_mirror(databases)


def test_full_refresh_of_one_table_through_run_config(databases) -> None:
    populate(databases.crm_url, 30)
    _materialize(databases)

    result = _materialize(
        databases,
        selection=[crm_raw_key("deals")],
        run_config={"ops": {SYNC_OP_NAME: {"config": {"full_refresh": True}}}},
    )

    assert result.success
    assert [m.asset_key for m in result.asset_materializations_for_node(SYNC_OP_NAME)] == [crm_raw_key("deals")]
    assert _metadata(result, "deals")["mode"] == "full"


def test_sensor_launches_once_per_change_and_sees_late_commits(databases) -> None:
    first = _sense(databases)
    assert isinstance(first, SkipReason)  # empty CRM, nothing to carry
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        insert_leads(conn, 5)

    launched = _sense(databases)
    assert isinstance(launched, SensorResult)
    (request,) = launched.run_requests or []
    assert isinstance(request, RunRequest) and request.run_key == launched.cursor
    assert request.tags["hyperdash/sync"]
    repeat = _sense(databases, cursor=launched.cursor)
    assert isinstance(repeat, SkipReason)  # same change state: no duplicate run

    with psycopg.connect(databases.crm_url) as slow:
        slow.execute("UPDATE leads SET status = 'won' WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1)")
        _materialize(databases)  # syncs the 5 inserts, not the uncommitted update
    after_commit = _sense(databases, cursor=launched.cursor)
    assert isinstance(after_commit, SensorResult)  # the late commit is a new change state
    assert after_commit.cursor != launched.cursor

    _materialize(databases)
    assert isinstance(_sense(databases, cursor=after_commit.cursor), SkipReason)
    assert_exact_mirror(databases, ["leads"])


def test_definitions_wire_job_sensor_schedule_and_assets() -> None:
    defs = build_definitions()
    job = defs.resolve_job_def(SYNC_JOB_NAME)
    assert job.tags["hyperdash/sync"]
    assert crm_changes_sensor.default_status == DefaultSensorStatus.RUNNING
    assert crm_changes_sensor.minimum_interval_seconds is not None and crm_changes_sensor.minimum_interval_seconds <= 60
    assert hourly_crm_sync.default_status == DefaultScheduleStatus.RUNNING
    assert hourly_crm_sync.cron_schedule == "0 * * * *"
    assert crm_raw_sync.op.retry_policy is not None and crm_raw_sync.op.retry_policy.max_retries >= 1
    graph = defs.resolve_asset_graph()
    for table in CRM_TABLES:
        node = graph.get(crm_raw_key(table))
        assert node.group_name == GROUP_CRM_SYNC
        assert crm_source_key(table) in node.parent_keys
        assert "postgres" in node.kinds and node.owners and node.description


def test_cli_sync_runs_the_job_on_the_instance_and_prints_what_moved(
    databases, pg_server, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = databases.bi_url.rsplit("/", 1)[-1].split("?")[0] + "_dagster"
    monkeypatch.setenv(DAGSTER_URL_VAR, psycopg2_url(pg_server.create_database(name)))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv(HOME_VAR, str(tmp_path))
    populate(databases.crm_url, 12)
    try:
        assert main(["sync", "--table", "leads"]) == 0
        first = capsys.readouterr().out
        with psycopg.connect(databases.crm_url, autocommit=True) as conn:
            conn.execute("UPDATE leads SET status = 'lost' WHERE id IN (SELECT id FROM leads LIMIT 3)")
        assert main(["sync"]) == 0
        second = capsys.readouterr().out
    finally:
        pg_server.drop_database(name)
    assert [line.split()[:3] for line in first.splitlines() if line.startswith("leads")] == [["leads", "full", "12"]]
    leads_line = next(line.split() for line in second.splitlines() if line.startswith("leads"))
    assert leads_line[1:5] == ["incremental", "0", "3", "0"]
    assert {line.split()[0] for line in second.splitlines()} >= set(CRM_TABLES)
    assert (tmp_path / "dagster" / "dagster.yaml").is_file()
    assert_exact_mirror(databases)


def test_a_missing_required_column_fails_the_run_at_once_with_the_fix(databases) -> None:
    with psycopg.connect(databases.crm_url, autocommit=True) as crm:
        crm.execute("ALTER TABLE leads DROP COLUMN campaign_id")

    result = _materialize(databases, selection=[crm_raw_key("leads")], raise_on_error=False)

    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert error is not None and "leads.campaign_id is missing" in error.message
    assert "hyperdash migrate --existing-crm" in error.message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
