"""Distributed execution (issue #18): two real `hyperdash worker` processes, each with its own working directory
and DAGSTER_HOME, consume the steps of jobs launched from the `dagster` CLI with HYPERDASH_EXECUTOR=celery
through Redis; runs and events live in PostgreSQL only. The tables they build equal an in-process run's."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from dagster import DagsterEventType, DagsterInstance

from hyperdash_pipeline.settings import PROJECT_ROOT
from tests.support.correlation_seed import snapshot
from tests.support.postgres import PgServer, Templates

pytestmark = pytest.mark.slow

REDIS = ("127.0.0.1", 6379)
BIN = Path(sys.executable).parent
DEPLOY_YAML = PROJECT_ROOT / "deploy" / "celery" / "dagster.yaml"
WORKERS = ("w1", "w2")
JOBS = ("crm_to_bi_sync", "analytics_rebuild")
# crm_raw columns stamped by the sync's own clock.
CRM_RAW_QUERY = "SELECT id, organization_id, status, campaign_id, touchpoints FROM crm_raw.leads ORDER BY id"


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False


def _pair(pg_server: PgServer, templates: Templates, name: str) -> tuple[str, str]:
    crm = pg_server.create_database(f"{name}_crm", template=templates.crm)
    bi = pg_server.create_database(f"{name}_bi", template=templates.bi)
    return crm, bi


@pytest.fixture
def cluster(pg_server: PgServer, templates: Templates, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Databases (CRM, BI, Dagster storage), an environment for the workers and the CLI, and a Redis db."""
    if not _redis_up():
        pytest.skip(f"no Redis at {REDIS[0]}:{REDIS[1]} (the Celery broker of this test)")
    tag = f"hd_celery_{uuid.uuid4().hex[:8]}"
    crm, bi = _pair(pg_server, templates, tag)
    dagster_db = pg_server.create_database(f"{tag}_dagster")
    redis_db = 1 + int(tag[-4:], 16) % 15  # away from db 0, the default a developer's own workers use
    env = {
        **os.environ,
        "CRM_DATABASE_URL": crm,
        "BI_DATABASE_URL": bi,
        "DAGSTER_PG_URL": dagster_db.replace("postgresql://", "postgresql+psycopg2://", 1),
        "HYPERDASH_EXECUTOR": "celery",
        "HYPERDASH_CELERY_BROKER": f"redis://{REDIS[0]}:{REDIS[1]}/{redis_db}",
        "HYPERDASH_HOME": str(tmp_path / "hyperdash"),
    }
    redis.Redis(host=REDIS[0], port=REDIS[1], db=redis_db).flushdb()  # no task left by an earlier session
    try:
        yield env
    finally:
        for name in (f"{tag}_crm", f"{tag}_bi", f"{tag}_dagster"):
            pg_server.drop_database(name)


def _home(base: Path, name: str) -> Path:
    home = base / name / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(DEPLOY_YAML, home / "dagster.yaml")
    return home


def _start_worker(base: Path, name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    workdir = base / name
    home = _home(base, name)
    log = workdir / "worker.log"
    proc = subprocess.Popen(
        [str(BIN / "hyperdash"), "worker", "--name", name],
        cwd=workdir,
        env={**env, "DAGSTER_HOME": str(home)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


def _wait_ready(logs: list[Path], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(" ready." in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.5)
    raise AssertionError("workers not ready:\n" + "\n".join(log.read_text(errors="replace")[-2000:] for log in logs))


def _execute(job: str, env: dict[str, str], home: Path, cwd: Path) -> None:
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "hyperdash_pipeline.definitions", "-j", job],
        cwd=cwd,
        env={**env, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{job} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _step_workers(home: Path, env: dict[str, str]) -> dict[str, set[str]]:
    """Which Celery worker executed the steps of each run, from the engine events in PostgreSQL."""
    os.environ["DAGSTER_PG_URL"] = env["DAGSTER_PG_URL"]
    workers: dict[str, set[str]] = {}
    with DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs():
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
                data = entry.dagster_event.event_specific_data if entry.dagster_event else None
                worker = getattr(data, "metadata", {}).get("Celery worker")
                if worker is not None:
                    workers.setdefault(run.job_name, set()).add(str(worker.value).split("@")[0])
    return workers


def _rounded(rows: list[tuple]) -> list[tuple]:
    """Float sums in another order differ in the last bits (a worker's plan may group differently)."""
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


def _tables(bi_url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(bi_url) as conn:
        tables = snapshot(conn)
        tables["crm_raw.leads"] = conn.execute(CRM_RAW_QUERY).fetchall()
        tables["lead_attribution"] = conn.execute(
            "SELECT lead_id, organization_id, campaign_id, source, cpa_at_conversion, roas FROM lead_attribution "
            "ORDER BY lead_id"
        ).fetchall()
        tables["analytics.attribution_touch_credits"] = conn.execute(
            "SELECT * FROM analytics.attribution_touch_credits ORDER BY lead_id, touch_index"
        ).fetchall()
    return {table: _rounded(rows) for table, rows in tables.items()}


def _seed(env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "hyperdash"), "seed", "--leads", "1500", "--seed", "7"], env=env, check=True)


def test_two_celery_workers_run_the_steps_and_match_an_in_process_run(
    cluster: dict[str, str], pg_server: PgServer, templates: Templates, tmp_path: Path
) -> None:
    env = cluster
    _seed(env)
    workers = [_start_worker(tmp_path, name, env) for name in WORKERS]
    try:
        _wait_ready([log for _, log in workers])
        launcher = _home(tmp_path, "launcher")
        for job in JOBS:
            _execute(job, env, launcher, tmp_path / "launcher")
        seen = _step_workers(launcher, env)
        # Steps go to whichever worker asks first: a further rebuild until both took some (almost always one).
        for _ in range(3):
            if set().union(*seen.values()) == set(WORKERS):
                break
            _execute("analytics_rebuild", env, launcher, tmp_path / "launcher")
            seen = _step_workers(launcher, env)
    finally:
        for proc, _ in workers:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=60)
    logs = "\n".join(log.read_text(errors="replace") for _, log in workers)
    assert set(seen) == set(JOBS), f"runs without Celery steps: {seen}\n{logs[-3000:]}"
    assert set().union(*seen.values()) == set(WORKERS), f"steps per job: {seen}"
    assert not list(tmp_path.glob("*/dagster_home/storage")), "a process kept state in local files"
    celery_tables = _tables(env["BI_DATABASE_URL"])

    # The same seed, synced and rebuilt in one process (Dagster's default executor).
    local = f"hd_local_{uuid.uuid4().hex[:8]}"
    crm, bi = _pair(pg_server, templates, local)
    try:
        local_env = {**env, "CRM_DATABASE_URL": crm, "BI_DATABASE_URL": bi, "HYPERDASH_EXECUTOR": ""}
        _seed(local_env)
        home = _home(tmp_path, "local")
        for job in JOBS:
            _execute(job, local_env, home, tmp_path / "local")
        local_tables = _tables(bi)
    finally:
        pg_server.drop_database(f"{local}_crm")
        pg_server.drop_database(f"{local}_bi")
    assert celery_tables["lead_attribution"], "nothing was attributed: the comparison would prove nothing"
    for table, rows in local_tables.items():
        assert celery_tables[table] == rows, f"{table} differs between the Celery and the in-process run"
