"""An existing CRM of a foreign shape: adopted once, one migration history with a new CRM, synced, attributed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from dagster import materialize

from hyperdash_pipeline.defs.attribution.assets import lead_attribution
from hyperdash_pipeline.defs.correlation.assets import campaign_attributed_revenue, correlation_tables
from hyperdash_pipeline.migrate import MigrationError, apply_migrations, migrate_all
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR, SQL_DIR, psycopg2_url
from hyperdash_pipeline.sync.engine import SYNCED_TABLES, mirror_fingerprints, run_sync
from tests.support import FIXTURES
from tests.support.foreign_crm import CAMPAIGNS, ORGANIZATION, build_foreign_crm, current_columns, digests_over

EARLIER_TRACK = FIXTURES / "crm_existing_v1"
CRM_TABLES = ("pipelines", *SYNCED_TABLES)


@dataclass(frozen=True)
class Pair:
    crm_url: str
    bi_url: str
    dagster_url: str


@pytest.fixture
def foreign(pg_server, request) -> Iterator[Pair]:
    """Empty CRM, BI and Dagster databases; the CRM then gets the foreign-shaped tables and their rows."""
    base = f"hd_foreign_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    names = [f"{base}_crm", f"{base}_bi", f"{base}_dagster"]
    urls = [pg_server.create_database(name) for name in names]
    build_foreign_crm(urls[0])
    yield Pair(*urls)
    for name in names:
        pg_server.drop_database(name)


def yoyo_history(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration")}


def every_crm_migration() -> set[str]:
    return {path.stem for path in (SQL_DIR / "crm").glob("*.sql")}


def test_existing_crm_then_migrate_twice_changes_no_row_and_joins_the_one_history(foreign: Pair) -> None:
    columns = current_columns(foreign.crm_url, CRM_TABLES)
    before = digests_over(foreign.crm_url, columns)

    first = migrate_all(foreign.crm_url, foreign.bi_url, existing_crm=True)
    again = migrate_all(foreign.crm_url, foreign.bi_url)
    third = migrate_all(foreign.crm_url, foreign.bi_url)

    assert set(first[0].applied) == every_crm_migration() - {"0001_core_tables"}  # 0001: adopted, recorded
    assert again[0].applied == third[0].applied == [] and again[1].applied == []
    assert yoyo_history(foreign.crm_url) == every_crm_migration(), "the same history as a new CRM's"
    assert digests_over(foreign.crm_url, columns) == before
    with psycopg.connect(foreign.crm_url) as conn:
        kept = conn.execute("SELECT count(*) FROM leads WHERE source IS NOT NULL AND NOT attribution_synced")
        assert kept.fetchone() == (1000,), "the CRM's own columns stay; every lead waits for its first sync"
        assert conn.execute("SELECT to_regclass('webhook_sources') IS NOT NULL").fetchone() == (True,)


def test_a_later_crm_migration_applies_to_an_adopted_crm(foreign: Pair, tmp_path: Path) -> None:
    migrate_all(foreign.crm_url, foreign.bi_url, existing_crm=True)
    folder = tmp_path / "crm"
    folder.mkdir()
    for path in (SQL_DIR / "crm").glob("*.sql"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "9901_later.sql").write_text("ALTER TABLE leads ADD COLUMN later_flag boolean;")

    report = apply_migrations(foreign.crm_url, folder, "CRM")

    assert report.applied == ["9901_later"]


def test_plain_migrate_on_a_crm_with_its_own_tables_says_to_adopt_it(foreign: Pair) -> None:
    columns = current_columns(foreign.crm_url, CRM_TABLES)
    before = digests_over(foreign.crm_url, columns)

    with pytest.raises(MigrationError, match=r"already has its own leads table.*hyperdash migrate --existing-crm"):
        migrate_all(foreign.crm_url, foreign.bi_url)

    assert digests_over(foreign.crm_url, columns) == before
    assert current_columns(foreign.crm_url, CRM_TABLES) == columns


def test_adoption_names_a_missing_column_it_cannot_add(foreign: Pair) -> None:
    with psycopg.connect(foreign.crm_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE deals DROP COLUMN lead_id")

    with pytest.raises(MigrationError, match=r"deals\.lead_id is missing.*--existing-crm` again"):
        migrate_all(foreign.crm_url, foreign.bi_url, existing_crm=True)

    with psycopg.connect(foreign.crm_url) as conn:
        adopted = conn.execute(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'leads'::regclass AND attname = 'attribution_synced'"
        ).fetchone()
    assert adopted == (0,), "nothing is changed before every missing column is named"


def test_a_crm_adopted_by_the_earlier_track_migrates_on(foreign: Pair) -> None:
    """sql/crm_existing (earlier releases) forked the history: `hyperdash migrate` now carries it over."""
    apply_migrations(foreign.crm_url, EARLIER_TRACK, "CRM")
    columns = current_columns(foreign.crm_url, CRM_TABLES)
    before = digests_over(foreign.crm_url, columns)

    reports = migrate_all(foreign.crm_url, foreign.bi_url)

    assert set(reports[0].applied) == every_crm_migration() - {
        "0001_core_tables",
        "0101_sync_support",
        "0102_receipt_hot_updates",
    }
    assert every_crm_migration() <= yoyo_history(foreign.crm_url)
    assert digests_over(foreign.crm_url, columns) == before
    with psycopg.connect(foreign.crm_url, autocommit=True) as conn:
        conn.execute("DELETE FROM notes WHERE id = 1")  # a bigint key: its tombstone is text now (crm 0801)
        tombstones = conn.execute("SELECT table_name, id FROM sync_tombstones").fetchall()
    assert tombstones == [("notes", "1")]


def _hyperdash(pair: Pair, home: Path, *args: str) -> str:
    env = {**os.environ, CRM_URL_VAR: pair.crm_url, BI_URL_VAR: pair.bi_url, "HYPERDASH_HOME": str(home)}
    env[DAGSTER_URL_VAR] = psycopg2_url(pair.dagster_url)
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "hyperdash_pipeline.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"hyperdash {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_existing_crm_end_to_end_from_adoption_to_the_report(foreign: Pair, tmp_path: Path) -> None:
    """The README's path, with the real CLI: adopt, migrate again, sync, attribute, correlate, report."""
    _hyperdash(foreign, tmp_path, "migrate", "--existing-crm")
    _hyperdash(foreign, tmp_path, "migrate")
    synced = _hyperdash(foreign, tmp_path, "sync")
    _hyperdash(foreign, tmp_path, "attribute")

    assert "leads" in synced
    for table in SYNCED_TABLES:
        source, mirror = mirror_fingerprints(foreign.crm_url, foreign.bi_url, table)
        assert source == mirror, f"crm_raw.{table} differs from the CRM's {table}"
    with psycopg.connect(foreign.bi_url) as bi:
        by_kind: dict[str, list[str]] = dict(
            bi.execute(
                "SELECT CASE WHEN l.campaign_id IS NOT NULL THEN 'campaign' WHEN l.utm_source IS NOT NULL THEN 'utm'"
                " ELSE 'none' END, array_agg(DISTINCT a.campaign_id ORDER BY a.campaign_id)"
                " FROM lead_attribution a JOIN crm_raw.leads l ON l.id = a.lead_id GROUP BY 1"
            ).fetchall()
        )
        won = bi.execute("SELECT count(*), sum(won_revenue) FROM analytics.lead_outcomes").fetchone()
        quoted = bi.execute('SELECT count(*) FROM crm_raw.leads WHERE "Lead Score" IS NOT NULL').fetchone()
    # Without touchpoints a lead's single touch is its own campaign, else '(' || its normalised source || ')'.
    assert by_kind == {"campaign": sorted(CAMPAIGNS), "utm": ["(google)", "(meta)"], "none": ["(organic)"]}
    assert won == (50, sum(1000 + i for i in range(1, 51)))
    assert quoted == (1000,)
    with psycopg.connect(foreign.crm_url) as crm:
        assert crm.execute("SELECT count(*) FROM leads WHERE attribution_synced").fetchone() == (1000,)

    bi_resource = PostgresResource(url=foreign.bi_url, application_name="hyperdash-test/bi")
    result = materialize(
        [lead_attribution, correlation_tables, campaign_attributed_revenue], resources={"bi": bi_resource}
    )
    assert result.success
    with psycopg.connect(foreign.bi_url) as bi:
        customers: dict[str, int] = dict(
            bi.execute(
                "SELECT campaign_id, sum(customers) FROM analytics.campaign_lead_quality WHERE organization_id = %s"
                " GROUP BY 1",
                [ORGANIZATION],
            ).fetchall()
        )
    assert sum(customers.values()) == 50
    report_path = _hyperdash(foreign, tmp_path, "report").strip()
    assert Path(report_path).read_text().count("<svg") >= 1


def test_incremental_sync_of_a_foreign_crm_moves_updates_inserts_and_deletes_of_every_key_type(foreign: Pair) -> None:
    migrate_all(foreign.crm_url, foreign.bi_url, existing_crm=True)
    first = run_sync(foreign.crm_url, foreign.bi_url)
    assert {name: report.inserted for name, report in first.tables.items()} == {
        "contacts": 500,
        "leads": 1000,
        "deals": 100,
        "tasks": 20,
        "notes": 20,
        "activities": 20,
    }
    with psycopg.connect(foreign.crm_url, autocommit=True) as conn:
        conn.execute("DELETE FROM notes WHERE id IN (1, 2)")  # bigint key
        conn.execute("DELETE FROM tasks WHERE id = 'T-3'")  # text key
        conn.execute("DELETE FROM activities WHERE id = md5('foreign-activity-4')::uuid")  # uuid key
        conn.execute("UPDATE leads SET status = 'won' WHERE name = 'Lead 900'")  # the adoption's trigger stamps it
        conn.execute("""UPDATE notes SET "Created By" = 'manager' WHERE id = 5""")

    second = run_sync(foreign.crm_url, foreign.bi_url)

    moved = {name: (r.mode, r.inserted, r.updated, r.deleted) for name, r in second.tables.items() if r.moved}
    assert moved == {
        "leads": ("incremental", 0, 1, 0),
        "notes": ("incremental", 0, 1, 2),
        "tasks": ("incremental", 0, 0, 1),
        "activities": ("incremental", 0, 0, 1),
    }
    for table in SYNCED_TABLES:
        source, mirror = mirror_fingerprints(foreign.crm_url, foreign.bi_url, table)
        assert source == mirror, f"crm_raw.{table} differs from the CRM's {table}"
