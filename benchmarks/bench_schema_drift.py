"""Schema drift benchmark: a column added to the CRM's leads reaches BI by backfill, against a full resync.

    .venv/bin/python benchmarks/bench_schema_drift.py                 # 200,000 leads
    .venv/bin/python benchmarks/bench_schema_drift.py --rows 50000 --pg-url postgresql://postgres@127.0.0.1/postgres

Without --pg-url an embedded PostgreSQL is started in a temporary folder. Fresh CRM and BI databases are
created and migrated, leads generated (benchmarks/sql/generate_leads.sql) and synced once; then, `--repeat`
times, a column is added to the CRM's leads in three ways (one value on every row: filled metadata-only; no
value: nothing to fill; a different value on each row: the backfill proper) and the next incremental sync
carries it (`sync/schema.py`). The baseline is what fixing that drift by a full resync costs
(`run_sync(full=True)`, TRUNCATE + COPY of the whole table). Every result is checked equal to the CRM.
Figures go to docs/sync.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperdash_pipeline.connections import connect  # noqa: E402
from hyperdash_pipeline.embedded import database_url, start_embedded, stop_embedded  # noqa: E402
from hyperdash_pipeline.migrate import migrate_all  # noqa: E402
from hyperdash_pipeline.sync.engine import mirror_fingerprints, run_sync  # noqa: E402

APPLICATION = "hyperdash-bench-schema-drift"


@contextmanager
def _server(pg_url: str | None) -> Iterator[str]:
    if pg_url:
        yield pg_url
        return
    home = Path(tempfile.mkdtemp(prefix="hyperdash-bench-"))
    socket_dir = start_embedded(home)
    try:
        yield database_url(socket_dir, "postgres")
    finally:
        stop_embedded(home)


@contextmanager
def _databases(admin_url: str) -> Iterator[tuple[str, str]]:
    names = [f"bench_drift_{os.getpid()}_crm", f"bench_drift_{os.getpid()}_bi"]
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    crm, bi = (urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}")) for name in names)
    try:
        migrate_all(crm, bi)
        yield crm, bi
    finally:
        with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# How the column is added: one value on every row, none, or a different value on each (a volatile default
# rewrites the CRM table without touching updated_at: only the backfill can bring those values).
_CASES = {
    "constant default": "text NOT NULL DEFAULT 'standard'",
    "no default": "text",
    "volatile default": "uuid NOT NULL DEFAULT gen_random_uuid()",
}


def _add_crm_column(crm: str, name: str, definition: str) -> None:
    with connect(crm, "crm", APPLICATION, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE leads ADD COLUMN {} " + definition).format(sql.Identifier(name)))


def _check_exact(crm: str, bi: str) -> None:
    source, mirror = mirror_fingerprints(crm, bi, "leads")
    if source != mirror:
        raise SystemExit(f"crm_raw.leads differs from the CRM after the run: {source} != {mirror}")


def _timed(crm: str, bi: str, *, full: bool) -> float:
    started = time.monotonic()
    run_sync(crm, bi, tables=["leads"], full=full, mark_attribution_synced=False)
    return time.monotonic() - started


def bench(admin_url: str, rows: int, repeat: int) -> None:
    with _databases(admin_url) as (crm, bi):
        # --rows generated leads in one INSERT, then VACUUM: not to be cut by the CRM's 30 min.
        with connect(crm, "crm", APPLICATION, autocommit=True, statement_timeout_ms=0) as conn:
            conn.execute((ROOT / "benchmarks" / "sql" / "generate_leads.sql").read_text(), {"n": rows})
            conn.execute("VACUUM ANALYZE leads")
        run_sync(crm, bi, tables=["leads"])  # with its receipt: the CRM's flags then read as BI's
        times: dict[str, list[float]] = {case: [] for case in [*_CASES, "resync"]}
        for round_ in range(repeat):
            for case, definition in _CASES.items():
                _add_crm_column(crm, f"c_{round_}_{case.replace(' ', '_')}", definition)
                times[case].append(_timed(crm, bi, full=False))
                _check_exact(crm, bi)
            times["resync"].append(_timed(crm, bi, full=True))
            _check_exact(crm, bi)
        median = {case: statistics.median(values) for case, values in times.items()}
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"{rows:,} leads, median of {repeat}, load average {load} (shared machine: figures are noisy)")
        print(f"{'a column added in the CRM reaches BI by':<52}{'seconds':>9}{'resync / ours':>15}")
        for case in _CASES:
            label = f"  ADD COLUMN + backfill, {case} (ours)"
            print(f"{label:<52}{median[case]:>9.2f}{median['resync'] / median[case]:>14.1f}x")
        print(f"{'  full resync (baseline)':<52}{median['resync']:>9.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", help="an existing server's admin URL (default: a temporary embedded one)")
    args = parser.parse_args()
    with _server(args.pg_url) as admin_url:
        bench(admin_url, args.rows, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
