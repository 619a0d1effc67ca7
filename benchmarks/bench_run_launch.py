"""What a sync run launched by the daemon costs around its work: a caught-up (no-op) crm_to_bi_sync, timed
from its own event log.

    .venv/bin/python benchmarks/bench_run_launch.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/bench_run_launch.py            # an embedded PostgreSQL in a temporary folder

Fresh CRM, BI and Dagster databases; 1,000 generated leads, mirrored once so that every timed run is a
no-op. A real `dagster-daemon run` (own process group, killed at the end) serves the project's dagster.yaml;
each run is submitted with `dagster job launch` (queued, as the sensor's runs are) and the script waits for
RUN_SUCCESS. Printed per phase, median of --runs: queue (RUN_ENQUEUED -> RUN_STARTING, the coordinator's
dequeue interval), launch -> RUN_SUCCESS (the run worker process: interpreter, imports, loading the code
location, the step, event writes), and the step itself (STEP_START -> STEP_SUCCESS) as the work's baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_sync import _database_pair, _generate, _server, _url  # noqa: E402
from whole_process import load  # noqa: E402

from hyperdash_pipeline.connections import connect  # noqa: E402
from hyperdash_pipeline.settings import (  # noqa: E402
    BI_URL_VAR,
    CRM_URL_VAR,
    DAGSTER_URL_VAR,
    DAGSTER_YAML,
    psycopg2_url,
)
from hyperdash_pipeline.sync.engine import run_sync  # noqa: E402

if TYPE_CHECKING:
    from dagster import DagsterInstance

APPLICATION = "hyperdash-bench-run-launch"

_PHASES = {
    "queue (RUN_ENQUEUED -> RUN_STARTING)": ("RUN_ENQUEUED", "RUN_STARTING"),
    "launch -> RUN_SUCCESS": ("RUN_STARTING", "RUN_SUCCESS"),
    "  of which worker start (RUN_STARTING -> RUN_START)": ("RUN_STARTING", "RUN_START"),
    "  of which the step (STEP_START -> STEP_SUCCESS)": ("STEP_START", "STEP_SUCCESS"),
}


@contextmanager
def _dagster_database(admin_url: str) -> Iterator[str]:
    name = f"bench_launch_{os.getpid()}_dagster"
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url(admin_url, name)
    finally:
        with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def _daemon(env: dict[str, str], log: IO[bytes]) -> Iterator[None]:
    """`dagster-daemon run` on the project's workspace, in its own process group, gone afterwards."""
    command = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")]
    daemon = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def _launch(env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "dagster", "job", "launch", "-w", str(ROOT / "workspace.yaml")]
    subprocess.run([*command, "-j", "crm_to_bi_sync"], env=env, cwd=ROOT, check=True, capture_output=True)


def _wait_idle(instance: DagsterInstance, timeout: float = 300.0) -> None:
    """Let other runs (the automation sensor's first analytics run on the fresh mirror) finish first."""
    from dagster import DagsterRunStatus, RunsFilter

    busy = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    deadline = time.monotonic() + timeout
    while instance.get_runs(filters=RunsFilter(statuses=busy)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"other runs still in progress after {timeout:.0f} s: see the daemon's log")
        time.sleep(0.5)


def _timed_run(env: dict[str, str], timeout: float = 120.0) -> dict[str, float]:
    """Launch one run and return the timestamp of each event type (by its DagsterEventType name) once it succeeded."""
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.get() as instance:
        _wait_idle(instance)
        ours = RunsFilter(job_name="crm_to_bi_sync")
        known = {run.run_id for run in instance.get_runs(filters=ours)}
        _launch(env)
        (run,) = [r for r in instance.get_runs(filters=ours) if r.run_id not in known]
        deadline = time.monotonic() + timeout
        while (status := instance.get_run_by_id(run.run_id).status) not in (  # type: ignore[union-attr]
            DagsterRunStatus.SUCCESS,
            DagsterRunStatus.FAILURE,
            DagsterRunStatus.CANCELED,
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run.run_id} still {status} after {timeout:.0f} s: see the daemon's log")
            time.sleep(0.2)
        if status != DagsterRunStatus.SUCCESS:
            raise RuntimeError(f"run {run.run_id} ended {status}: see it in the Dagster UI")
        stamps: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id):
            if entry.dagster_event is not None:  # stored values keep old names (PIPELINE_SUCCESS): use the enum
                stamps.setdefault(DagsterEventType(entry.dagster_event.event_type_value).name, entry.timestamp)
        return stamps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="timed runs (median)")
    parser.add_argument("--pg-url", help="admin URL of a PostgreSQL server to use instead of an embedded one")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hyperdash-bench-launch-"))
    try:
        with (
            _server(args.pg_url) as admin_url,
            _database_pair(admin_url, "launch", application=APPLICATION) as (crm, bi),
            _dagster_database(admin_url) as dagster_url,
        ):
            _generate(crm, 1000, application=APPLICATION)
            run_sync(crm, bi)  # caught up: every timed run is a no-op
            shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
            env = {
                **os.environ,
                CRM_URL_VAR: crm,
                BI_URL_VAR: bi,
                DAGSTER_URL_VAR: psycopg2_url(dagster_url),
                "DAGSTER_HOME": str(home),
            }
            os.environ.update({k: env[k] for k in (CRM_URL_VAR, BI_URL_VAR, DAGSTER_URL_VAR, "DAGSTER_HOME")})
            with (home / "daemon.log").open("wb") as log, _daemon(env, log):
                runs = [_timed_run(env) for _ in range(args.runs)]
                figures = {
                    name: statistics.median(run[end] - run[start] for run in runs)
                    for name, (start, end) in _PHASES.items()
                }
                print(f"{args.runs} daemon-launched no-op crm_to_bi_sync runs, median; load average {load()}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"| {'phase':<52} | {'seconds':>7} |")
    for name, seconds in figures.items():
        print(f"| {name:<52} | {seconds:7.2f} |")
    print("target: launch -> RUN_SUCCESS <= 3 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
