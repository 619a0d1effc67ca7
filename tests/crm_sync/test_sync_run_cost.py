"""What a `hyperdash sync` costs beyond its rows: the command loads only its own module, a caught-up BI
launches no run (and never loads Dagster), anything pending launches one recorded in the instance, and
the caught-up check agrees with what the engine would do."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.cli import REGISTRARS, build_parser, main
from hyperdash_pipeline.settings import DAGSTER_URL_VAR, HOME_VAR, PROJECT_ROOT, psycopg2_url
from hyperdash_pipeline.sync.engine import SYNCED_TABLES, run_sync
from hyperdash_pipeline.sync.markers import pending_work
from tests.support.sync_data import ORG, insert_leads, populate


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)


@pytest.mark.parametrize("registrar", REGISTRARS, ids=lambda r: r.target)
def test_the_command_table_names_exactly_the_commands_each_registrar_adds(registrar) -> None:
    parser = argparse.ArgumentParser()
    registrar.load()(parser.add_subparsers())

    assert _commands(parser) == list(registrar.commands)
    assert _commands(build_parser([registrar.commands[0]])) == list(registrar.commands)


def test_help_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])

    shown = capsys.readouterr().out
    every = [c for r in REGISTRARS for c in r.commands]
    assert _commands(build_parser()) == every
    assert all(command in shown for command in every)


@pytest.fixture
def instance_env(databases, pg_server, tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A fresh Dagster instance storage in PostgreSQL, as `hyperdash` would use it."""
    name = databases.bi_url.rsplit("/", 1)[-1].split("?")[0] + "_dagster"
    monkeypatch.setenv(DAGSTER_URL_VAR, psycopg2_url(pg_server.create_database(name)))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv(HOME_VAR, str(tmp_path))
    yield tmp_path
    pg_server.drop_database(name)


def _runs(home: Path) -> list[str]:
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    with DagsterInstance.get() as instance:
        return [run.run_id for run in instance.get_runs()]


def test_cli_sync_launches_a_recorded_run_only_when_something_is_pending(
    databases, instance_env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    populate(databases.crm_url, 10)
    assert main(["sync"]) == 0
    first = capsys.readouterr().out
    monkeypatch.delenv("DAGSTER_HOME")
    assert main(["sync"]) == 0
    quiet = capsys.readouterr().out
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        insert_leads(conn, 2)
    assert main(["sync", "--json"]) == 0
    changed = capsys.readouterr().out
    assert main(["sync", "--always"]) == 0
    forced = capsys.readouterr().out

    runs = _runs(instance_env)
    assert len(runs) == 3
    for output in (first, changed, forced):
        assert any(run_id in output for run_id in runs)
    assert "caught up" in quiet and "no run was launched" in quiet
    moved = {row["table"]: row["inserted"] for row in json.loads(changed)["tables"]}
    assert moved["leads"] == 2 and moved["contacts"] == 0


def test_pending_crm_receipts_launch_a_run_that_sets_them(databases, instance_env) -> None:
    populate(databases.crm_url, 6)
    run_sync(databases.crm_url, databases.bi_url, mark_attribution_synced=False)  # a crash before the receipt
    assert pending_work(databases.crm_url, databases.bi_url) == ["leads: CRM receipts pending"]

    assert main(["sync", "--quiet"]) == 0

    with psycopg.connect(databases.crm_url) as conn:
        row = conn.execute("SELECT count(*) FILTER (WHERE NOT attribution_synced) FROM leads").fetchone()
    assert row == (0,)
    assert len(_runs(instance_env)) == 1
    assert pending_work(databases.crm_url, databases.bi_url) == []


@pytest.mark.slow
def test_a_caught_up_sync_in_its_own_process_never_loads_dagster(databases, instance_env) -> None:
    populate(databases.crm_url, 5)
    run_sync(databases.crm_url, databases.bi_url)
    probe = (
        "import sys\n"
        "from hyperdash_pipeline.cli import main\n"
        "code = main(['sync'])\n"
        "print('dagster loaded' if 'dagster' in sys.modules else 'dagster not loaded')\n"
        "sys.exit(code)\n"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "caught up" in done.stdout and "dagster not loaded" in done.stdout


def _whole_table_scans(crm_url: str) -> dict[str, int]:
    """Sequential scans of each synced CRM table so far (every session's, flushed to the shared counters)."""
    with psycopg.connect(crm_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        rows = conn.execute(
            "SELECT relname, seq_scan FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname = ANY (%s)",
            (list(SYNCED_TABLES),),
        ).fetchall()
    return {str(name): int(scans) for name, scans in rows}


def test_the_pre_run_check_reads_only_the_unsynced_tail_of_a_crm_without_statistics(databases) -> None:
    """The check before a sync (and the sensor's poll) on a CRM never analysed, as a server with autovacuum off
    leaves a bulk-loaded one: the rows beyond the watermark are counted by index, no table is scanned whole."""
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        for table in SYNCED_TABLES:
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
        insert_leads(conn, 50_000)
    run_sync(databases.crm_url, databases.bi_url)
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        insert_leads(conn, 3)
        unanalysed = conn.execute("SELECT reltuples < 0 FROM pg_class WHERE oid = 'leads'::regclass").fetchone()
    assert unanalysed == (True,)
    before = _whole_table_scans(databases.crm_url)

    assert pending_work(databases.crm_url, databases.bi_url) == ["leads: 3 changed, 0 deleted"]

    assert _whole_table_scans(databases.crm_url) == before


_STEPS = st.lists(
    st.sampled_from(["insert", "update", "delete", "sync", "sync_without_receipt", "new_contact"]),
    min_size=1,
    max_size=6,
)


def _apply(step: str, crm: str, bi: str) -> None:
    if step.startswith("sync"):
        run_sync(crm, bi, mark_attribution_synced=step == "sync")
        return
    with psycopg.connect(crm, autocommit=True) as conn:
        if step == "insert":
            insert_leads(conn, 2)
        elif step == "update":
            conn.execute("UPDATE leads SET status = 'qualified' WHERE id = (SELECT id FROM leads LIMIT 1)")
        elif step == "delete":
            conn.execute("DELETE FROM leads WHERE id = (SELECT id FROM leads ORDER BY created_at DESC LIMIT 1)")
        else:
            conn.execute("INSERT INTO contacts (organization_id, name) VALUES (%s, 'New')", [ORG])


def _state(bi: str) -> list[tuple[object, ...]]:
    with psycopg.connect(bi) as conn:
        return conn.execute(
            "SELECT table_name, rows_watermark, tombstones_watermark, receipt_watermark FROM sync_state ORDER BY 1"
        ).fetchall()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS)
def test_caught_up_means_a_run_would_change_nothing(databases, steps: list[str]) -> None:
    """After any history of CRM writes and (receipt-less) syncs: no pending work exactly when a run would
    move no row, set no receipt and advance no watermark."""
    crm, bi = databases.crm_url, databases.bi_url
    for step in steps:
        _apply(step, crm, bi)
    pending = pending_work(crm, bi)
    before = _state(bi)

    report = run_sync(crm, bi)

    changed = any(t.moved for t in report.tables.values()) or report.tables["leads"].attribution_flagged > 0
    assert (changed or _state(bi) != before) == bool(pending), (steps, pending)
    assert pending_work(crm, bi) == []


def test_a_full_sync_receipt_finds_a_lead_imported_behind_the_watermark_and_only_it(databases) -> None:
    crm, bi = databases.crm_url, databases.bi_url
    populate(crm, 8)
    run_sync(crm, bi)
    with psycopg.connect(crm, autocommit=True) as conn:
        insert_leads(conn, 1, updated_at="2020-01-01T00:00:00Z")  # an import with an old stamp

    first = run_sync(crm, bi, tables=["leads"], full=True)
    again = run_sync(crm, bi, tables=["leads"], full=True)

    assert (first.tables["leads"].attribution_flagged, again.tables["leads"].attribution_flagged) == (1, 0)
    with psycopg.connect(crm) as conn:
        assert conn.execute("SELECT bool_and(attribution_synced) FROM leads").fetchone() == (True,)
    assert pending_work(crm, bi) == []
