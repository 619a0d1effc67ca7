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
from hyperdash_pipeline.commands.status import collect_status, render_text
from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.defs.reporting.assets import correlation_report
from hyperdash_pipeline.resources import PostgresResource
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
    """Three tables as the sync leaves them: leads last moved rows 2 hours ago, deals 5 minutes ago,
    contacts 10 minutes ago (each mirrored up to its watermark)."""
    with psycopg.connect(bi_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sync_state (table_name, rows_watermark, horizon, rows_inserted, synced_at) VALUES"
            " ('leads', now() - interval '3 hours', now() - interval '2 hours', 10, now() - interval '2 hours'),"
            " ('deals', now() - interval '6 minutes', now() - interval '5 minutes', 4, now() - interval '5 minutes'),"
            " ('contacts', now() - interval '10 minutes', now() - interval '10 minutes', 1,"
            "  now() - interval '10 minutes')"
        )


def write_contacts_not_yet_synced(crm_url: str) -> None:
    """A contact changed 90 s ago (after the contacts watermark), and one mirrored long ago, deleted now."""
    with psycopg.connect(crm_url, autocommit=True) as conn:
        org = "00000000-0000-0000-0000-000000000001"
        conn.execute(
            "INSERT INTO contacts (organization_id, name, updated_at) VALUES"
            " (%(org)s, 'changed 90 s ago', now() - interval '90 seconds'),"
            " (%(org)s, 'mirrored an hour ago', now() - interval '1 hour')",
            {"org": org},
        )
        conn.execute("DELETE FROM contacts WHERE name = 'mirrored an hour ago'")


def test_status_reads_runs_failing_checks_and_sync_lag(databases, instance_env: Path) -> None:
    create_sync_state(databases.bi_url)
    write_contacts_not_yet_synced(databases.crm_url)
    with DagsterInstance.get() as instance:
        result = materialize(
            [leads_copy, leads_have_an_organization, leads_exist], instance=instance, raise_on_error=False
        )
        assert result.success  # a failed ERROR-severity check fails no run: only status shows it
        defs = Definitions(assets=[leads_copy], asset_checks=[leads_have_an_organization, leads_exist])
        status = collect_status(instance, databases.crm, databases.bi, defs, run_limit=5)

    assert [(run.status, run.assets) for run in status.runs] == [("SUCCESS", ["leads_copy"])]
    assert [(fc.asset, fc.check, fc.severity, fc.description) for fc in status.failing_checks] == [
        ("leads_copy", "leads_have_an_organization", "ERROR", "3 leads without organization")
    ]
    lags = {lag.table: lag for lag in status.sync}
    assert set(lags) == {"leads", "deals", "contacts"}
    # Nothing changed in the CRM since leads were last synced 2 hours ago: caught up, not 2 hours behind.
    assert (lags["leads"].lag_seconds, lags["leads"].pending_rows) == (0.0, 0)
    assert lags["deals"].lag_seconds == 0.0
    # The oldest change BI lacks is the contact written 90 s ago; the deletion waits beside it.
    assert lags["contacts"].lag_seconds == pytest.approx(90, abs=30)
    assert (lags["contacts"].pending_rows, lags["contacts"].pending_deletes) == (1, 1)
    text = render_text(status)
    leads_line = next(line for line in text.splitlines() if line.strip().startswith("leads "))
    assert "caught up" in leads_line and "behind" not in leads_line and "last synced" in leads_line
    contacts_line = next(line for line in text.splitlines() if line.strip().startswith("contacts "))
    assert "0:01:" in contacts_line and "behind (1 changed, 1 deleted waiting" in contacts_line
    assert "3 leads without organization" in text


def test_status_says_the_lag_is_unknown_when_the_crm_cannot_be_read(databases, instance_env: Path) -> None:
    create_sync_state(databases.bi_url)
    unreachable = PostgresResource(url=databases.crm_url.rsplit("/", 1)[0] + "/no_such_crm_database")
    with DagsterInstance.get() as instance:
        status = collect_status(instance, unreachable, databases.bi, Definitions(), run_limit=1)
    assert status.sync_note and status.sync_note.startswith("the CRM could not be read, lag unknown")
    assert "no_such_crm_database" in status.sync_note
    assert {lag.table: lag.lag_seconds for lag in status.sync} == {"leads": None, "deals": None, "contacts": None}
    assert "unknown" in render_text(status)


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
    assert {row["table"]: row["state"]["rows_inserted"] for row in data["sync"]} == {
        "leads": 10,
        "deals": 4,
        "contacts": 1,
    }
    assert {row["table"]: row["lag_seconds"] for row in data["sync"]} == {"leads": 0, "deals": 0, "contacts": 0}


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
