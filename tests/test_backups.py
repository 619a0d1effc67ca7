"""Backup jobs dump a restorable file, prune old dumps and never put a password on a command line."""

from __future__ import annotations

import subprocess

from dagster import ScheduleDefinition

from hyperdash_pipeline.automation.backups import dump_database, pg_dump_binary, prune
from hyperdash_pipeline.definitions import defs


def test_crm_backup_job_writes_a_restorable_dump(databases, tmp_path):
    with databases.crm.connection() as conn:
        conn.execute("INSERT INTO contacts (organization_id, name) VALUES (gen_random_uuid(), 'Ada')")
    job = defs.resolve_job_def("crm_backup_job")
    result = job.execute_in_process(
        run_config={"ops": {"backup_crm": {"config": {"directory": str(tmp_path), "keep": 2}}}},
        resources={"crm": databases.crm},
    )
    assert result.success
    (dump,) = (tmp_path / "crm").glob("*.dump")
    listing = subprocess.run(
        [str(pg_dump_binary().with_name("pg_restore")), "--list", str(dump)], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE DATA public contacts" in listing


def test_prune_keeps_the_newest(tmp_path):
    for stamp in ("20260101", "20260102", "20260103"):
        (tmp_path / f"crm-{stamp}.dump").write_bytes(b"x")
    removed = prune(tmp_path, keep=2)
    assert [p.name for p in removed] == ["crm-20260101.dump"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm-20260102.dump", "crm-20260103.dump"]


def test_failed_dump_reports_without_password(tmp_path):
    url = "postgresql://u:topsecret@127.0.0.1:1/crm?connect_timeout=1"
    try:
        dump_database(url, tmp_path / "x.dump")
    except RuntimeError as exc:
        assert "topsecret" not in str(exc)
        assert "pg_dump of postgresql://u:***@127.0.0.1:1/crm" in str(exc)
    else:
        raise AssertionError("a dump of an unreachable server must fail")
    assert not list(tmp_path.iterdir()), "no partial dump may be left behind"


def test_backup_schedules_follow_the_seed():
    schedules: dict[str, str] = {}
    for s in defs.schedules or []:
        assert isinstance(s, ScheduleDefinition) and isinstance(s.cron_schedule, str)
        schedules[s.name] = s.cron_schedule
    assert schedules["crm_backup_hourly"].split()[1] == "*"  # every hour
    assert schedules["bi_backup_daily"].split()[2:] == ["*", "*", "*"]  # once a day
