"""How long `seed_sample_data` takes for 100k and 1M leads, against the raw floor.

The floor is a bare `INSERT ... SELECT generate_series` of the same number of rows into an unlogged
copy of `leads` (ids and times from column defaults, nothing else): what PostgreSQL needs to write
that many rows at all on this machine. The seed writes ~3.5 rows per lead into six logged tables
with their keys and indexes, plus the BI side, so a ratio of a few tens is expected.

    python benchmarks/bench_seed.py [--sizes 100000,1000000] [--workers 1,2]

Each size is seeded once per worker count (`--workers`, default 1 and one per CPU): the speed-up
column compares each run with the first worker count's.

Uses the server at HYPERDASH_TEST_PG_URL, or the embedded one under HYPERDASH_HOME. Scratch
databases hd_bench_seed_crm / hd_bench_seed_bi are created and dropped. Besides wall time it prints
the CPU seconds the server's backends spent (from /proc, when the server runs on this machine):
on a shared machine that is the figure to compare, since wall time also counts the waiting.
It also samples each seed backend's CPU (pg_stat_activity + /proc, every 0.2 s) and prints the
critical path: the slowest CRM worker plus the final CRM transaction, which is what the seed
would take on an idle machine with a core per worker.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from psycopg import sql

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.embedded import database_url, start_embedded
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.sample_data import seed_sample_data
from hyperdash_pipeline.settings import TEST_PG_URL_VAR, libpq_url

APPLICATION = "hyperdash-bench-seed"  # not hyperdash-seed/...: the sampler below counts only the seed's
SCRATCH = ("hd_bench_seed_crm", "hd_bench_seed_bi")


def _admin_url() -> str:
    external = os.environ.get(TEST_PG_URL_VAR)
    return libpq_url(external) if external else database_url(start_embedded(), "postgres")


def _on(admin_url: str, database: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{database}"))


def _recreate(admin_url: str, drop_only: bool = False) -> None:
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
        for name in SCRATCH:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if not drop_only:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _postmaster_pid(admin_url: str) -> int | None:
    """The server's postmaster, whose children's CPU time grows by each finished backend's."""
    with connect(admin_url, "admin", APPLICATION) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    try:
        return int(Path(f"/proc/{row[0] if row else 0}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # a remote server: no CPU figures


def _children_cpu(postmaster: int | None) -> float | None:
    if postmaster is None:
        return None
    time.sleep(0.3)  # let the postmaster reap the backends that just closed
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _cpu_text(before: float | None, after: float | None) -> str:
    return "n/a" if before is None or after is None else f"{after - before:.1f}"


class _BackendSampler(threading.Thread):
    """Last CPU seconds seen per seed backend: {pid: (backend_start, application_name, cpu)}."""

    def __init__(self, admin_url: str) -> None:
        super().__init__(daemon=True)
        self.admin_url = admin_url
        self.seen: dict[int, tuple[float, str, float]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        with connect(self.admin_url, "admin", APPLICATION, autocommit=True) as conn:
            while not self.done.wait(0.2):
                rows = conn.execute(
                    "SELECT pid, extract(epoch FROM backend_start)::float8, application_name FROM pg_stat_activity "
                    "WHERE application_name LIKE 'hyperdash-seed/%' AND backend_type = 'client backend'"
                ).fetchall()
                for pid, started, name in rows:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self.seen[pid] = (started, name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))

    def critical_path(self) -> str:
        """'worker max + final = total' CPU seconds of the CRM backends (control, workers..., final)."""
        crm = [cpu for _, name, cpu in sorted(self.seen.values()) if name.endswith("/crm")]
        if len(crm) < 3:
            return "n/a"
        return f"{max(crm[1:-1]):.1f} + {crm[-1]:.1f} = {max(crm[1:-1]) + crm[-1]:.1f}"


def _floor_seconds(crm_url: str, rows: int) -> float:
    # One INSERT of --sizes rows: minutes at large sizes, not to be cut by the CRM's 30 min.
    with connect(crm_url, "crm", APPLICATION, statement_timeout_ms=0) as conn:
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


def _measure_floor(crm_url: str, rows: int, postmaster: int | None) -> tuple[float, str]:
    cpu0 = _children_cpu(postmaster)
    floor = _floor_seconds(crm_url, rows)
    return floor, _cpu_text(cpu0, _children_cpu(postmaster))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated lead counts")
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 1}", help="comma-separated CRM worker counts")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    worker_counts = [int(count) for count in args.workers.split(",")]
    admin = _admin_url()
    _recreate(admin)
    crm_url, bi_url = (_on(admin, name) for name in SCRATCH)
    try:
        migrate_all(crm_url, bi_url)
        postmaster = _postmaster_pid(admin)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(
            f"{'leads':>10} {'workers':>7} {'CRM rows':>10} {'seed s':>7} {'cpu s':>6} {'speed-up':>8} "
            f"{'floor s':>7} {'cpu s':>6} {'ratio':>6}  critical path, cpu s"
        )
        print(
            f"{'':>10} {'':>7} {'':>10} {'(wall)':>7} {'':>6} {'(wall)':>8} {'(wall)':>7} {'':>6} {'(wall)':>6}"
            "  (slowest worker + final)"
        )
        for size in sizes:
            floor, floor_cpu = _measure_floor(crm_url, size, postmaster)
            first: float | None = None
            for workers in worker_counts:
                sampler = _BackendSampler(admin)
                sampler.start()
                cpu0 = _children_cpu(postmaster)
                summary = seed_sample_data(crm_url, bi_url, leads=size, reset=True, workers=workers)
                cpu1 = _children_cpu(postmaster)
                sampler.done.set()
                sampler.join()
                first = first or summary.elapsed_seconds
                crm_rows = sum(n for table, n in summary.counts.items() if table.startswith("crm."))
                print(
                    f"{size:>10,} {workers:>7} {crm_rows:>10,} {summary.elapsed_seconds:>7.1f} "
                    f"{_cpu_text(cpu0, cpu1):>6} {first / summary.elapsed_seconds:>7.2f}x "
                    f"{floor:>7.2f} {floor_cpu:>6} {summary.elapsed_seconds / floor:>5.1f}x  "
                    f"{sampler.critical_path()}"
                )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        _recreate(admin, drop_only=True)


if __name__ == "__main__":
    main()
