"""`hyperdash status`: sync lag, last runs and failing checks, read from BI and the Dagster instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterInstance,
    Definitions,
    asset,
    asset_check,
    materialize,
)

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.ops.status import collect_status, render_text
from hyperdash_pipeline.report.assets import correlation_report
from hyperdash_pipeline.settings import DAGSTER_URL_VAR, HOME_VAR, psycopg2_url


@pytest.fixture
def instance_env(databases, pg_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HYPERDASH_HOME in tmp_path and a fresh Dagster instance database, as `hyperdash status` sees them."""
    home = tmp_path / "home"
    name = f"hd_ui_dagster_{tmp_path.name}"[:60]
    url = pg_server.create_database(name)
    monkeypatch.setenv(HOME_VAR, str(home))
    monkeypatch.setenv(DAGSTER_URL_VAR, psycopg2_url(url))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # restored after the test
    prepare_dagster_home(home)
    yield home
    pg_server.drop_database(name)


@asset(group_name="crm_sync", description="test asset")
def leads_copy() -> None:
    return None


@asset_check(asset=leads_copy, description="no lead without an organization")
def leads_have_an_organization() -> AssetCheckResult:
    return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, description="3 leads without organization")


@asset_check(asset=leads_copy, description="always passes")
def leads_exist() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


def create_sync_state(bi_url: str) -> None:
    """Two tables as the sync leaves them: leads complete up to 2 hours ago, deals up to 5 minutes ago."""
    with psycopg.connect(bi_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sync_state (table_name, rows_watermark, horizon, rows_inserted, synced_at) VALUES"
            " ('leads', now() - interval '3 hours', now() - interval '2 hours', 10, now() - interval '2 hours'),"
            " ('deals', now() - interval '6 minutes', now() - interval '5 minutes', 4, now() - interval '5 minutes')"
        )


def test_status_reads_runs_failing_checks_and_sync_lag(databases, instance_env: Path) -> None:
    create_sync_state(databases.bi_url)
    with DagsterInstance.get() as instance:
        result = materialize(
            [leads_copy, leads_have_an_organization, leads_exist], instance=instance, raise_on_error=False
        )
        assert result.success  # a failed ERROR-severity check fails no run: only status shows it
        defs = Definitions(assets=[leads_copy], asset_checks=[leads_have_an_organization, leads_exist])
        status = collect_status(instance, databases.bi, defs, run_limit=5)

    assert [(run.status, run.assets) for run in status.runs] == [("SUCCESS", ["leads_copy"])]
    assert [(fc.asset, fc.check, fc.severity, fc.description) for fc in status.failing_checks] == [
        ("leads_copy", "leads_have_an_organization", "ERROR", "3 leads without organization")
    ]
    lags = {lag.table: lag.lag_seconds for lag in status.sync}
    assert set(lags) == {"leads", "deals"}
    assert lags["leads"] == pytest.approx(2 * 3600, abs=60)  # from last_synced_at, not the watermark
    assert lags["deals"] == pytest.approx(300, abs=60)
    text = render_text(status)
    assert "leads" in text and "2:00:" in text and "3 leads without organization" in text


def test_status_cli_on_a_fresh_pipeline_says_nothing_ran(
    databases, instance_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "no table has been synced yet" in out
    assert "none yet" in out  # no run


def test_status_json_lists_a_report_run_for_scripts(
    databases, instance_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_sync_state(databases.bi_url)
    with DagsterInstance.get() as instance:
        assert materialize([correlation_report], resources={"bi": databases.bi}, instance=instance).success
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"][0]["assets"] == ["reporting/correlation_report"]
    assert data["runs"][0]["status"] == "SUCCESS"
    assert data["failing_checks"] == []
    assert {row["table"] for row in data["sync"]} == {"leads", "deals"}
    assert {row["table"]: row["state"]["rows_inserted"] for row in data["sync"]} == {"leads": 10, "deals": 4}


def test_status_counts_conversions_per_platform_over_the_last_7_days(
    databases, instance_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        org = conn.execute("INSERT INTO organizations (name, slug) VALUES ('Acme', 'acme') RETURNING id").fetchone()
        conn.execute(
            "INSERT INTO integrations (organization_id, provider, account_id, conversions_config, "
            "conversions_status, conversions_last_error) VALUES (%s, 'google', '1234567890', '{}', 'unconfigured', "
            "'no credentials: environment variable GOOGLE_ADS_DEVELOPER_TOKEN is not set')",
            (org[0] if org else None,),
        )
        conn.execute(
            "INSERT INTO conversions_outbox (event_id, platform, organization_id, lead_id, event_kind, event_time, "
            "status, updated_at) SELECT gen_random_uuid(), platform, %s, gen_random_uuid(), 'lead', now(), status, "
            "now() - age FROM (VALUES ('meta', 'sent', interval '1 hour'), ('meta', 'sent', interval '2 days'), "
            "('meta', 'sent', interval '8 days'), ('meta', 'rejected', interval '1 day'), "
            "('meta', 'expired', interval '1 day'), ('google', 'pending', interval '30 days')) "
            "AS v(platform, status, age)",
            (org[0] if org else None,),
        )
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    counts = {row["platform"]: row for row in data["conversions"]}
    assert {k: counts["meta"][k] for k in ("sent", "rejected", "expired", "pending")} == {
        "sent": 2,  # the one sent 8 days ago is outside the window
        "rejected": 1,
        "expired": 1,
        "pending": 0,
    }
    assert counts["google"]["pending"] == 1
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "meta    2 sent, 1 rejected, 1 expired, 0 skipped for consent; 0 pending now" in text
    assert "google acme/1234567890: unconfigured (no credentials" in text
