"""What a Dagster run of `rebuild_organization` costs around its work: one organization rebuilt by the engine
alone, by `execute_in_process` in a warm process, and by a whole `dagster job execute` process per run.

    .venv/bin/python benchmarks/bench_organization_runs.py [--leads 500000] [--organizations 5] [--rounds 1]
    HYPERDASH_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/...

Fresh CRM/BI databases and a Dagster storage database (the project's dagster.yaml) on the server at
HYPERDASH_TEST_PG_URL or a throwaway embedded PostgreSQL; the attribution data of bench_attribution.py
(sql/benchmarks/attribution_generate.sql: --leads over 5 organizations, 100,000 each at the default, the
average organization of docs/scale.md's 100M leads across 1,000), rebuilt in full once. Then every
organization is rebuilt --rounds times each way, alternating; printed per way: the median wall time per
organization, the engine's own time (attribution/organization.py: locks to commit) as the baseline, the
ratio, and what a backfill of 1,000 such organizations costs in runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run_launch import _dagster_database
from bench_sync import _database_pair, _server
from whole_process import load

from hyperdash_pipeline.attribution.organization import organization_ids, rebuild_organization
from hyperdash_pipeline.attribution.refresh import (
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR, DAGSTER_YAML, psycopg2_url
from hyperdash_pipeline.transforms import sql_steps

APPLICATION = "hyperdash-bench-organization-runs"
ROOT = Path(__file__).resolve().parent.parent
DAGSTER = Path(sys.executable).with_name("dagster")
BACKFILL = 1_000
# dagster.yaml: at most 2 concurrent rebuild_organization runs (tag hyperdash/organization_rebuild).
CONCURRENT_RUNS = 2


def _generate(url: str, leads: int) -> float:
    """The data, and its full rebuild in one session (the attribution state the job needs); that rebuild's
    seconds."""
    with connect(url, "bi", APPLICATION, statement_timeout_ms=0) as conn:
        params = {"leads": leads, "deals": leads // 10, "campaigns": 2_000}
        for query in sql_steps("benchmarks/attribution_generate.sql").values():
            conn.execute(query, params if "%(" in query else None)
        conn.commit()
        start = time.perf_counter()
        refresh_lead_attribution(conn, full=True)
        refresh_attribution_credits(conn, full=True)
        refresh_markov_attribution(conn)
        seconds = time.perf_counter() - start
        print(f"full rebuild of every organization in 1 session: {seconds:.2f} s ({load()})")
        return seconds


def _engine(url: str, organization: str) -> float:
    with connect(url, "bi", APPLICATION, statement_timeout_ms=0) as conn:
        return rebuild_organization(conn, organization).seconds


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _in_process(bi: PostgresResource, organization: str) -> None:
    from dagster import DagsterInstance

    from hyperdash_pipeline.defs.attribution.organizations import rebuild_organization_job

    with DagsterInstance.get() as instance:
        result = rebuild_organization_job.execute_in_process(
            partition_key=organization, instance=instance, resources={"bi": bi}
        )
    if not result.success:
        raise SystemExit(f"rebuild_organization {organization} failed in process; see the log above")


def _whole_process(env: dict[str, str], organization: str) -> None:
    command = [str(DAGSTER), "job", "execute", "-m", "hyperdash_pipeline.definitions", "-j", "rebuild_organization"]
    tags = json.dumps({"dagster/partition": organization})
    done = subprocess.run([*command, "--tags", tags], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"`dagster job execute` for {organization} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=500_000, help="leads over 5 organizations")
    parser.add_argument("--rounds", type=int, default=1, help="times each organization is rebuilt each way")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hyperdash-bench-orgs-"))
    try:
        with (
            _server(os.environ.get("HYPERDASH_TEST_PG_URL")) as admin_url,
            _database_pair(admin_url, "orgs", application=APPLICATION) as (_crm, bi_url),
            _dagster_database(admin_url) as dagster_url,
        ):
            shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
            env = {
                **os.environ,
                CRM_URL_VAR: bi_url,  # not read by this job; the Definitions want it set
                BI_URL_VAR: bi_url,
                DAGSTER_URL_VAR: psycopg2_url(dagster_url),
                "DAGSTER_HOME": str(home),
            }
            os.environ.update({k: env[k] for k in (CRM_URL_VAR, BI_URL_VAR, DAGSTER_URL_VAR, "DAGSTER_HOME")})
            print(f"generating {args.leads:,} leads over 5 organizations ({load()})", flush=True)
            full = _generate(bi_url, args.leads)
            with connect(bi_url, "bi", APPLICATION) as conn:
                organizations = organization_ids(conn)
            from dagster import DagsterInstance

            with DagsterInstance.get() as instance:
                instance.add_dynamic_partitions("organizations", organizations)
            bi = PostgresResource(url=bi_url, application_name=APPLICATION)
            ways: dict[str, Callable[[str], float]] = {
                "engine (rebuild_organization, locks to commit)": lambda org: _engine(bi_url, org),
                "Dagster execute_in_process, warm process": lambda org: _timed(lambda: _in_process(bi, org)),
                "whole process: `dagster job execute`": lambda org: _timed(lambda: _whole_process(env, org)),
            }
            times: dict[str, list[float]] = {way: [] for way in ways}
            for round_ in range(args.rounds):
                for organization in organizations:
                    for way, run in ways.items():
                        seconds = run(organization)
                        times[way].append(seconds)
                        print(f"  round {round_ + 1} {organization[-4:]} {way:<50} {seconds:7.2f} s", flush=True)
            per_org = args.leads // len(organizations)
            print(f"per organization of {per_org:,} leads, median of {len(organizations) * args.rounds}; {load()}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    engine = statistics.median(times[next(iter(ways))])
    print(f"| {'way':<50} | {'seconds':>7} | {'x engine':>8} | {'overhead s':>10} |")
    for way, values in times.items():
        median = statistics.median(values)
        print(f"| {way:<50} | {median:7.2f} | {median / engine:7.2f}x | {median - engine:10.2f} |")
    whole = statistics.median(times["whole process: `dagster job execute`"])
    print(
        f"every organization by the engine, one after another: {engine * len(organizations):.2f} s, against the "
        f"one-session full rebuild's {full:.2f} s ({engine * len(organizations) / full:.2f}x)"
    )
    print(
        f"backfill of {BACKFILL:,} such organizations, a run each, {CONCURRENT_RUNS} at a time: "
        f"engine {BACKFILL * engine / 3600:.2f} h of work, runs {BACKFILL * whole / 3600:.2f} h of run time, "
        f"~{BACKFILL * whole / CONCURRENT_RUNS / 3600:.2f} h wall ({(whole - engine) * BACKFILL / 60:.0f} min "
        f"of it per-run overhead)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
