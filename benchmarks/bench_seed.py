"""How long `seed_sample_data` takes for 100k and 1M leads, against the raw floor.

The floor is a bare `INSERT ... SELECT generate_series` of the same number of rows into an unlogged
copy of `leads` (ids and times from column defaults, nothing else): what PostgreSQL needs to write
that many rows at all on this machine. The seed writes ~3.5 rows per lead into six logged tables
with their keys and indexes, plus the BI side, so a ratio of a few tens is expected.

    python benchmarks/bench_seed.py [--sizes 100000,1000000]

Uses the server at HYPERDASH_TEST_PG_URL, or the embedded one under HYPERDASH_HOME. Scratch
databases hd_bench_seed_crm / hd_bench_seed_bi are created and dropped.
"""

from __future__ import annotations

import argparse
import os
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from hyperdash_pipeline.embedded import database_url, start_embedded
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.sample_data import seed_sample_data
from hyperdash_pipeline.settings import TEST_PG_URL_VAR, libpq_url

SCRATCH = ("hd_bench_seed_crm", "hd_bench_seed_bi")


def _admin_url() -> str:
    external = os.environ.get(TEST_PG_URL_VAR)
    return libpq_url(external) if external else database_url(start_embedded(), "postgres")


def _on(admin_url: str, database: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{database}"))


def _recreate(admin_url: str, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in SCRATCH:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if not drop_only:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _floor_seconds(crm_url: str, rows: int) -> float:
    with psycopg.connect(crm_url) as conn:
        conn.execute("CREATE UNLOGGED TABLE bench_leads_floor (LIKE leads INCLUDING DEFAULTS)")
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO bench_leads_floor (organization_id) SELECT '00000000-0000-0000-0000-000000000001'::uuid "
            "FROM generate_series(1, %s)",
            (rows,),
        )
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated lead counts")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    admin = _admin_url()
    _recreate(admin)
    crm_url, bi_url = (_on(admin, name) for name in SCRATCH)
    try:
        migrate_all(crm_url, bi_url)
        print(
            f"{'leads':>10} {'seed s':>8} {'rows':>10} {'floor s':>8} {'ratio':>6}  (load average {os.getloadavg()[0]:.1f})"
        )
        for size in sizes:
            summary = seed_sample_data(crm_url, bi_url, leads=size, reset=True)
            crm_rows = sum(n for table, n in summary.counts.items() if table.startswith("crm."))
            floor = _floor_seconds(crm_url, size)
            print(
                f"{size:>10,} {summary.elapsed_seconds:>8.1f} {crm_rows:>10,} {floor:>8.2f} "
                f"{summary.elapsed_seconds / floor:>6.1f}x"
            )
    finally:
        _recreate(admin, drop_only=True)


if __name__ == "__main__":
    main()
