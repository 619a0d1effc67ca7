"""A CRM that goes back in time (restored from an older backup) and a BI restored from a backup older than
the tombstone retention: the next sync notices, says so, and leaves BI exactly equal to the CRM."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import psycopg
from dagster import materialize

from hyperdash_pipeline.backup.archive import create_backup
from hyperdash_pipeline.backup.restore import drop_database, restore_backup
from hyperdash_pipeline.defs.crm_sync.mirror import crm_raw_sync
from hyperdash_pipeline.sync import run_sync
from hyperdash_pipeline.sync.engine import SYNCED_TABLES, mirror_fingerprints
from hyperdash_pipeline.sync.markers import change_markers
from tests.support.sync_data import populate


def execute(url: str, *statements: str) -> None:
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        for statement in statements:
            conn.execute(statement)


def assert_bi_equals_crm(databases) -> None:
    for table in SYNCED_TABLES:
        crm, bi = mirror_fingerprints(databases.crm_url, databases.bi_url, table)
        assert crm == bi, f"crm_raw.{table} differs from the CRM: {bi} != {crm}"


def write_and_delete(url: str) -> None:
    execute(
        url,
        "INSERT INTO contacts (organization_id, name) VALUES (gen_random_uuid(), 'later')",
        "UPDATE leads SET status = 'lost' WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 3)",
        "DELETE FROM leads WHERE id IN (SELECT id FROM leads ORDER BY id DESC LIMIT 5)",
    )


def test_a_crm_restored_from_an_older_backup_is_noticed_and_bi_brought_back_to_it(databases, tmp_path: Path) -> None:
    populate(databases.crm_url, 40)
    run_sync(databases.crm_url, databases.bi_url)
    write_and_delete(databases.crm_url)
    backup = create_backup(databases.crm_url, "crm", tmp_path, secret=None)
    write_and_delete(databases.crm_url)  # rows the backup lacks, and rows it has that are now gone
    synced = run_sync(databases.crm_url, databases.bi_url)
    assert synced.time_travel is None and synced.tables["leads"].deleted == 10
    restored = restore_backup(backup.path, databases.crm_url, secret=None, replace=True)
    try:
        markers = change_markers(databases.crm_url, databases.bi_url)
        assert all(m.crm_went_back and m.pending for m in markers), "the sensor launches the repair"
        result = materialize([crm_raw_sync], resources={"crm": databases.crm, "bi": databases.bi})
        assert result.success
        metadata = result.asset_materializations_for_node("crm_raw_sync")
        leads = next(m for m in metadata if m.asset_key.path == ["crm_raw", "leads"]).metadata
        assert "went back in time" in str(leads["repair"].value)
        assert leads["mode"].value == "full"
        assert_bi_equals_crm(databases)

        again = run_sync(databases.crm_url, databases.bi_url)  # repaired: back to ordinary incremental runs
        assert again.time_travel is None and all(t.mode == "incremental" and not t.moved for t in again.tables.values())
        write_and_delete(databases.crm_url)
        assert run_sync(databases.crm_url, databases.bi_url).time_travel is None
        assert_bi_equals_crm(databases)
    finally:
        assert restored.replaced is not None
        drop_database(databases.crm_url, restored.replaced)


def test_a_crm_backed_up_after_the_last_sync_is_not_time_travel(databases, tmp_path: Path) -> None:
    """A backup taken after a sync holds everything that sync read: its restore is ordinary history."""
    populate(databases.crm_url, 20)
    run_sync(databases.crm_url, databases.bi_url)
    backup = create_backup(databases.crm_url, "crm", tmp_path, secret=None)
    write_and_delete(databases.crm_url)  # never synced: lost with the restore, and BI never saw it
    restored = restore_backup(backup.path, databases.crm_url, secret=None, replace=True)
    try:
        report = run_sync(databases.crm_url, databases.bi_url)
        assert report.time_travel is None and not any(t.repair for t in report.tables.values())
        assert_bi_equals_crm(databases)
    finally:
        assert restored.replaced is not None
        drop_database(databases.crm_url, restored.replaced)


def test_a_bi_restored_from_before_pruned_tombstones_re_copies_those_tables(databases, tmp_path: Path) -> None:
    populate(databases.crm_url, 30)
    run_sync(databases.crm_url, databases.bi_url)
    old_bi = create_backup(databases.bi_url, "bi", tmp_path, secret=None)
    for _ in range(2):  # deletes BI applies, whose tombstones a zero retention then prunes
        execute(databases.crm_url, "DELETE FROM leads WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 2)")
        run_sync(databases.crm_url, databases.bi_url, tombstone_retention_days=0)
    restored = restore_backup(old_bi.path, databases.bi_url, secret=None, replace=True)
    try:
        report = run_sync(databases.crm_url, databases.bi_url)
        repaired = {name for name, t in report.tables.items() if t.repair}
        assert "leads" in repaired and "contacts" not in repaired
        assert "pruned its tombstones" in str(report.tables["leads"].repair)
        assert_bi_equals_crm(databases)
        assert not any(t.repair for t in run_sync(databases.crm_url, databases.bi_url).tables.values())
    finally:
        assert restored.replaced is not None
        drop_database(databases.bi_url, restored.replaced)
