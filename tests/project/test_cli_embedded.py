"""The real CLI on the embedded default: start, reuse, stop, and a clear error when it cannot start."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from hyperdash_pipeline.embedded import SERVER_SETTINGS
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR, TEST_PG_URL_VAR

HYPERDASH = [sys.executable, "-m", "hyperdash_pipeline.cli"]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (CRM_URL_VAR, BI_URL_VAR, DAGSTER_URL_VAR)}
    env["HYPERDASH_HOME"] = str(home)
    return env


def _hyperdash(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HYPERDASH, *args], env=_env(home), capture_output=True, text=True, timeout=300)


def _postmaster_pid(home: Path) -> int:
    return int((home / "pgdata" / "postmaster.pid").read_text().split()[0])


def _running_settings(home: Path) -> dict[str, str]:
    """The running server's SERVER_SETTINGS, read through the socket postmaster.pid names (starts nothing)."""
    socket_dir = (home / "pgdata" / "postmaster.pid").read_text().splitlines()[4]
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres") as conn:
        query = "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)"
        return dict(conn.execute(query, (list(SERVER_SETTINGS),)).fetchall())


@pytest.mark.skipif(bool(os.environ.get(TEST_PG_URL_VAR)), reason="exercises the embedded server only")
def test_migrate_starts_reuses_and_stop_stops_the_embedded_server(home_dir):
    home = home_dir / "home"
    first = _hyperdash(home, "migrate")
    assert first.returncode == 0, first.stderr
    assert "CRM: applied 0001_core_tables" in first.stdout
    pid = _postmaster_pid(home)
    # Tuned for full rebuilds by the first start itself (loads into tables truncated in their transaction
    # skip the WAL), so a later start has nothing left to restart for.
    assert _running_settings(home) == SERVER_SETTINGS

    second = _hyperdash(home, "migrate")
    assert second.returncode == 0, second.stderr
    assert "nothing pending" in second.stdout
    assert _postmaster_pid(home) == pid, "a second start must reuse the running server"

    stopped = _hyperdash(home, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (home / "pgdata" / "postmaster.pid").exists()
    assert "no embedded PostgreSQL runs" in _hyperdash(home, "stop").stdout


def test_embedded_failure_says_why_and_what_to_set(home_dir):
    blocker = home_dir / "a-file"
    blocker.write_text("not a folder")
    result = _hyperdash(blocker / "home", "migrate")
    assert result.returncode == 2
    assert "could not start" in result.stderr
    assert CRM_URL_VAR in result.stderr and BI_URL_VAR in result.stderr and DAGSTER_URL_VAR in result.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root to switch users")
@pytest.mark.skipif(bool(os.environ.get(TEST_PG_URL_VAR)), reason="exercises the embedded server only")
def test_embedded_server_runs_for_an_ordinary_user(home_dir):
    user = "nobody"
    try:
        record = pwd.getpwnam(user)
    except KeyError:
        pytest.skip("no 'nobody' user on this machine")
    home = home_dir / "user-home"
    home.mkdir()
    os.chown(home, record.pw_uid, record.pw_gid)
    env = _env(home) | {"HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    probe = subprocess.run(["runuser", "-u", user, "--", sys.executable, "-c", "import hyperdash_pipeline"], env=env)
    if probe.returncode != 0:
        pytest.skip(f"{user} cannot run {sys.executable} with this checkout (interpreter or tree not readable)")
    command = [*HYPERDASH, "migrate"]
    result = subprocess.run(
        ["runuser", "-u", user, "--", *command], env=env, capture_output=True, text=True, timeout=300
    )
    try:
        assert result.returncode == 0, result.stderr
        assert "BI: applied 0001_core_tables" in result.stdout
    finally:
        subprocess.run(["runuser", "-u", user, "--", *HYPERDASH, "stop"], env=env, capture_output=True, timeout=120)
