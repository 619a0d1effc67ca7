"""Backups that are proven to restore: backup -> more writes -> restore equals the state at backup time,
encrypted files, bad files refused with nothing replaced, retention, the drill job, a full directory."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import DefaultScheduleStatus, ScheduleDefinition

from hyperdash_pipeline.backup.archive import BackupError, backup_time, create_backup, list_backups, prune
from hyperdash_pipeline.backup.crypto import KEY_VAR, BackupFileError
from hyperdash_pipeline.backup.restore import drop_database, restore_backup
from hyperdash_pipeline.definitions import defs
from hyperdash_pipeline.settings import DAGSTER_URL_VAR
from tests.support.sync_data import populate

CRM_TABLES = ("contacts", "leads", "deals", "tasks", "notes", "activities", "sync_tombstones")
RAW_KEY = "0123456789abcdef" * 4


def table_contents(url: str, tables=CRM_TABLES) -> dict[str, tuple[int, str]]:
    """Per table: row count and md5 of all rows sorted by their text (independent of the code under test)."""
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        result = {}
        for table in tables:
            row = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            ).fetchone()
            assert row is not None
            result[table] = (int(row[0]), str(row[1]))
        return result


def write_more(url: str) -> None:
    """New rows, changed rows and deleted rows (cascading to deals, tasks, notes, activities)."""
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        conn.execute("INSERT INTO contacts (organization_id, name) VALUES (gen_random_uuid(), 'after the backup')")
        conn.execute("UPDATE leads SET status = 'won' WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 5)")
        conn.execute("DELETE FROM leads WHERE id IN (SELECT id FROM leads ORDER BY id DESC LIMIT 4)")


def databases_named(url: str, pattern: str) -> list[str]:
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])]


def test_backup_more_writes_restore_equals_the_state_at_backup_time(databases, tmp_path) -> None:
    populate(databases.crm_url, 60)
    at_backup = table_contents(databases.crm_url)
    result = create_backup(databases.crm_url, "crm", tmp_path, secret=None)
    write_more(databases.crm_url)
    assert table_contents(databases.crm_url) != at_backup

    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert result.manifest.tables["public.leads"].rows == 60
    assert result.manifest.system_identifier and result.manifest.server_version
    restored = restore_backup(result.path, databases.crm_url, secret=None)
    try:
        assert restored.database.startswith(restored.database.split("_restored_")[0] + "_restored_")
        assert table_contents(restored.url) == at_backup  # table by table
    finally:
        drop_database(databases.crm_url, restored.database)


def test_an_encrypted_backup_restores_only_with_its_key_and_a_bad_file_replaces_nothing(
    databases, tmp_path, monkeypatch
) -> None:
    populate(databases.crm_url, 20)
    result = create_backup(databases.crm_url, "crm", tmp_path, secret=RAW_KEY)
    assert b"manifest.json" not in result.path.read_bytes()  # the tar stream itself is sealed
    write_more(databases.crm_url)
    live = table_contents(databases.crm_url)
    truncated = tmp_path / "truncated.hdbackup"
    truncated.write_bytes(result.path.read_bytes()[: result.path.stat().st_size // 2])

    cases = [
        (result.path, None, "is encrypted: set HYPERDASH_BACKUP_KEY"),
        (result.path, "f" * 64, "is not the key it was written with"),
        (truncated, RAW_KEY, "is truncated"),
    ]
    for path, secret, message in cases:
        with pytest.raises(BackupFileError, match=message):
            restore_backup(path, databases.crm_url, secret=secret, replace=True)
        assert table_contents(databases.crm_url) == live, "the live database must be untouched"
    crm_name = databases.crm_url.rsplit("/", 1)[1]
    assert databases_named(databases.crm_url, f"{crm_name}\\_%") == [], "no scratch database may be left"

    restored = restore_backup(result.path, databases.crm_url, secret=RAW_KEY, replace=True)
    assert restored.replaced is not None
    try:
        assert table_contents(databases.crm_url) != live
        assert table_contents(databases.crm_url)["leads"][0] == 20
    finally:
        drop_database(databases.crm_url, restored.replaced)


def test_a_plain_backup_cut_short_is_refused(databases, tmp_path) -> None:
    result = create_backup(databases.crm_url, "crm", tmp_path, secret=None)
    data = result.path.read_bytes()
    for keep in (len(data) // 2, 600, 40):  # inside the dump, the manifest, the header
        cut = tmp_path / f"cut-{keep}.hdbackup"
        cut.write_bytes(data[:keep])
        with pytest.raises(BackupFileError, match="truncated or corrupt"):
            restore_backup(cut, databases.crm_url, secret=None)


def test_restore_into_a_given_database_refuses_one_that_holds_tables(databases, tmp_path) -> None:
    result = create_backup(databases.bi_url, "bi", tmp_path, secret=None)
    with pytest.raises(Exception, match="already holds tables"):
        restore_backup(result.path, databases.bi_url, secret=None, target_url=databases.crm_url)


def test_retention_by_count_and_age_keeps_the_newest(tmp_path) -> None:
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    folder = tmp_path / "crm"
    folder.mkdir()
    for hours in (1, 2, 3, 30, 200):
        (folder / f"crm-{(now - timedelta(hours=hours)):%Y%m%dT%H%M%S%fZ}.hdbackup").write_bytes(b"x")
    removed = prune(tmp_path, "crm", keep=4, max_age=timedelta(days=1), now=now)
    assert sorted(now - backup_time(p) for p in removed) == [timedelta(hours=30), timedelta(hours=200)]
    assert [now - backup_time(p) for p in list_backups(tmp_path, "crm")] == [timedelta(hours=h) for h in (3, 2, 1)]
    assert len(prune(tmp_path, "crm", keep=0, max_age=timedelta(seconds=1), now=now + timedelta(days=9))) == 2
    assert len(list_backups(tmp_path, "crm")) == 1, "the newest backup is never removed"


def test_backup_and_restore_commands(databases, tmp_path, monkeypatch) -> None:
    env = {
        **os.environ,
        "HYPERDASH_BACKUP_DIR": str(tmp_path),
        KEY_VAR: "a passphrase",
        "HYPERDASH_HOME": str(tmp_path),
        # Every URL given, so the command starts no embedded server (one left running after the test otherwise).
        DAGSTER_URL_VAR: databases.bi_url,
    }
    command = [sys.executable, "-m", "hyperdash_pipeline.cli"]
    made = subprocess.run([*command, "backup", "--database", "bi"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert ", encrypted," in made.stdout
    (path,) = list_backups(tmp_path, "bi")
    refused = subprocess.run(
        [*command, "restore", "--database", "bi", str(path), "--replace"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "add --yes" in refused.stderr
    no_key = {k: v for k, v in env.items() if k != KEY_VAR}
    failed = subprocess.run(
        [*command, "restore", "--database", "bi", str(path)], env=no_key, capture_output=True, text=True
    )
    assert failed.returncode == 1 and "set HYPERDASH_BACKUP_KEY" in failed.stderr and "Traceback" not in failed.stderr
    done = subprocess.run([*command, "restore", "--database", "bi", str(path)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    name = done.stdout.split("into database ")[1].split(":")[0]
    assert "equal to the backup's manifest" in done.stdout
    drop_database(databases.bi_url, name)


def _run_config(directory: Path, **drill: float) -> dict:
    return {"ops": {"backup_restore_drill_checks": {"config": {"directory": str(directory), **drill}}}}


def test_the_backup_jobs_and_the_restore_drill(databases, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HYPERDASH_BACKUP_ROOT", str(tmp_path))
    populate(databases.crm_url, 10)
    resources = {"crm": databases.crm, "bi": databases.bi}
    for role in ("crm", "bi"):
        job = defs.resolve_job_def(f"{role}_backup_job")
        config = {"ops": {f"backups__{role}": {"config": {"directory": str(tmp_path)}}}}
        assert job.execute_in_process(run_config=config, resources=resources).success
    drill = defs.resolve_job_def("backup_restore_drill")
    result = drill.execute_in_process(run_config=_run_config(tmp_path), resources=resources)
    assert result.success
    checks = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert checks["crm"].passed and checks["bi"].passed
    assert int(str(checks["crm"].metadata["rows"].value)) > 10

    (newest_crm,) = list_backups(tmp_path, "crm")
    newest_crm.write_bytes(newest_crm.read_bytes()[:20_000])  # a damaged newest CRM backup
    failed = drill.execute_in_process(
        run_config=_run_config(tmp_path, bi_max_age_hours=1e-6), resources=resources, raise_on_error=False
    )
    assert not failed.success
    checks = {e.asset_key.path[-1]: e for e in failed.get_asset_check_evaluations()}
    assert not checks["crm"].passed and "truncated or corrupt" in str(checks["crm"].metadata["problem"].value)
    assert not checks["bi"].passed and "cadence allows" in str(checks["bi"].metadata["problem"].value)


def test_a_full_backup_directory_fails_clearly_and_keeps_earlier_backups(databases, tmp_path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        first = create_backup(databases.crm_url, "crm", mount, secret=None)
        with open(mount / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        with pytest.raises(BackupError, match=r"backup directory .* is full .* earlier backups were kept"):
            create_backup(databases.crm_url, "crm", mount, secret=None)
        assert list_backups(mount, "crm") == [first.path]
        assert sorted(p.name for p in (mount / "crm").iterdir()) == [first.path.name], "no partial file left"
        restored = restore_backup(first.path, databases.crm_url, secret=None)
        drop_database(databases.crm_url, restored.database)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_backup_schedules_follow_the_seed_and_the_drill_is_weekly() -> None:
    schedules: dict[str, ScheduleDefinition] = {}
    for s in defs.schedules or []:
        assert isinstance(s, ScheduleDefinition) and isinstance(s.cron_schedule, str)
        schedules[s.name] = s
    assert str(schedules["crm_backup_hourly"].cron_schedule).split()[1] == "*"  # every hour
    assert str(schedules["bi_backup_daily"].cron_schedule).split()[2:] == ["*", "*", "*"]  # once a day
    weekly = schedules["backup_restore_drill_weekly"]
    assert str(weekly.cron_schedule).split()[2:4] == ["*", "*"] and str(weekly.cron_schedule).split()[4] != "*"
    assert weekly.default_status == DefaultScheduleStatus.RUNNING
