"""Growth curve: the pipeline's stages as a user runs them, at growing lead counts, with the growth exponent.

    .venv/bin/python benchmarks/bench_growth.py [--sizes 100000,1000000,5000000] [--organizations 3]

For each size, fresh CRM, BI and Dagster databases are created and migrated, then these `hyperdash` commands
run one after the other, each in its own process (interpreter, imports and Dagster included):

    seed                 hyperdash seed --leads N
    full sync            hyperdash sync --full            (then one untimed `hyperdash sync` to settle)
    full rebuild         hyperdash attribute --full       (lead_attribution, attribution_credits, Markov;
                                                           --parallelism N passes its N on)
    incr. sync 1%        hyperdash sync                   after 1% of the CRM leads changed
    incr. refresh 1%     hyperdash attribute              the same changes through the attribution tables
    incr. sync 1k        hyperdash sync                   after a fixed 1,000 leads changed, at every size
    incr. refresh 1k     hyperdash attribute

Each row gives the process's wall time, the engine's part where the command reports it (the seed's own
time; the sync's Dagster step, from the run's event log), the process's peak RSS (wait4), the CRM and BI
sizes after the stage (pg_database_size) and the WAL the server wrote during it (pg_current_wal_lsn; the
whole server's, so other sessions on a shared server count too). Between sizes n1 -> n2 it prints the
growth exponent log(t2/t1) / log(n2/n1): 1 is linear. Targets: every full stage <= 1.1; the 1% incremental
stages cost about the same per changed lead at every size, and the fixed-1,000 ones stay flat (exponent
near 0), i.e. they grow with the change, not with the table.

Uses the server at HYPERDASH_TEST_PG_URL (an admin URL), or a throwaway embedded PostgreSQL, like the other
benchmarks. Every database it creates is dropped at the end, also after a failure. Figures: docs/scale.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import _server, _url
from whole_process import Cli, Measured

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.settings import TEST_PG_URL_VAR, libpq_url

APPLICATION = "hyperdash-bench-growth"

TODAY = "2026-12-01"  # a fixed window: the same rows at every run
FIXED_CHANGE = 1_000
FULL_STAGES = ("seed", "full sync", "full rebuild")
FULL_TARGET = 1.1

# A change a user's CRM makes: a new medium and one more touchpoint (the sync picks it up by updated_at,
# which the CRM's trigger bumps; the attribution refresh by the mirror's _synced_at).
_CHANGE = """
UPDATE leads SET utm_medium = 'changed', touchpoints = coalesce(touchpoints, '[]'::jsonb) || jsonb_build_array(
    jsonb_build_object('timestamp', to_char((created_at - interval '1 hour') AT TIME ZONE 'UTC',
                                            'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'channel', 'email'))
WHERE {}
"""
_ONE_PERCENT = "abs(hashtext(id::text)) % 10000 < 100"
_FIXED = "id IN (SELECT id FROM leads WHERE abs(hashtext(id::text)) %% 10000 >= 100 ORDER BY id LIMIT %s)"


@dataclass(frozen=True)
class Stage:
    """One measured command at one size."""

    size: int
    name: str
    wall: float
    engine: float | None
    peak_rss_mb: float
    crm_mb: float
    bi_mb: float
    wal_mb: float
    changed: int | None = None
    load: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class Databases:
    admin: str
    crm: str
    bi: str
    dagster: str


@contextmanager
def _databases(admin_url: str, size: int) -> Iterator[Databases]:
    names = [f"hd_bench_growth_{os.getpid()}_{size}_{part}" for part in ("crm", "bi", "dagster")]
    try:
        with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield Databases(admin_url, *(_url(admin_url, name) for name in names))
    finally:
        with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _sizes_mb(dbs: Databases) -> tuple[float, float]:
    with connect(dbs.admin, "admin", APPLICATION) as conn:
        row = conn.execute(
            "SELECT pg_database_size(%s), pg_database_size(%s)",
            [_name(dbs.crm), _name(dbs.bi)],
        ).fetchone()
    assert row is not None
    return row[0] / 2**20, row[1] / 2**20


def _name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _wal_lsn(admin_url: str) -> str:
    with connect(admin_url, "admin", APPLICATION) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def _wal_mb_since(admin_url: str, lsn: str) -> float:
    with connect(admin_url, "admin", APPLICATION) as conn:
        row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [lsn]).fetchone()
    assert row is not None
    return float(row[0]) / 2**20


def _step_seconds(dbs: Databases, stdout: str) -> float | None:
    """The sync op's own time in the recorded Dagster run (STEP_START to STEP_SUCCESS), None when no run."""
    run_id = json.loads(stdout).get("run_id")
    if not run_id:
        return None
    # Dagster's storage is neither the CRM nor BI: the server's own limits, as the maintenance connections.
    with connect(dbs.dagster, "admin", APPLICATION) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(timestamp) FILTER (WHERE dagster_event_type = 'STEP_SUCCESS') "
            "- min(timestamp) FILTER (WHERE dagster_event_type = 'STEP_START')) FROM event_logs WHERE run_id = %s",
            [run_id],
        ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def _seed_seconds(dbs: Databases, stdout: str) -> float | None:
    return float(json.loads(stdout)["elapsed_seconds"])


def _no_engine(dbs: Databases, stdout: str) -> float | None:
    return None


def _detail(command: str, stdout: str) -> str:
    """What the command says it did: rows the sync moved, leads the attribution recomputed."""
    data = json.loads(stdout)
    if command == "sync":
        rows = {row["table"]: row for row in data.get("tables", []) if isinstance(row, dict)}
        leads = rows.get("leads")
        return f"leads {leads['mode']} +{leads['inserted']} ~{leads['updated']}" if leads else "no run"
    if command == "attribute":
        leads = data["lead_attribution"]
        return f"recomputed {leads['recomputed']}, parallelism {leads['parallelism']}"
    return ""


def _change(crm_url: str, where: str, params: list[int] | None = None) -> int:
    with connect(crm_url, "crm", APPLICATION, autocommit=True) as conn:
        changed = conn.execute(_CHANGE.format(where), params).rowcount
        conn.execute("ANALYZE leads")
    return changed


def _stage(cli: Cli, dbs: Databases, size: int, name: str, args: list[str], changed: int | None = None) -> Stage:
    engine_of = {"seed": _seed_seconds, "sync": _step_seconds}.get(args[0], _no_engine)
    lsn = _wal_lsn(dbs.admin)
    done: Measured = cli.measure(*args)
    wal = _wal_mb_since(dbs.admin, lsn)
    crm_mb, bi_mb = _sizes_mb(dbs)
    stage = Stage(
        size,
        name,
        done.wall,
        engine_of(dbs, done.stdout),
        done.peak_rss_mb,
        crm_mb,
        bi_mb,
        wal,
        changed,
        os.getloadavg()[0],
        _detail(args[0], done.stdout),
    )
    _print_stage(stage)
    return stage


def _one_size(admin_url: str, size: int, organizations: int, parallelism: int | None) -> list[Stage]:
    print(f"--- {size:,} leads ({organizations} organizations), load average {os.getloadavg()[0]:.1f}", flush=True)
    with _databases(admin_url, size) as dbs, tempfile.TemporaryDirectory(prefix="hd-bench-growth-") as home:
        cli = Cli(dbs.crm, dbs.bi, dbs.dagster, Path(home))
        cli.run("migrate")
        out = [
            _stage(
                cli,
                dbs,
                size,
                "seed",
                ["seed", "--leads", str(size), "--organizations", str(organizations), "--today", TODAY, "--json"],
            ),
            _stage(cli, dbs, size, "full sync", ["sync", "--full", "--quiet", "--json"]),
        ]
        settle, _ = cli.run("sync", "--quiet")
        print(f"  (settling sync, untimed in the table: {settle:.1f} s)", flush=True)
        split = ["--parallelism", str(parallelism)] if parallelism else []
        out.append(_stage(cli, dbs, size, "full rebuild", ["attribute", "--full", *split, "--json"]))
        for label, where, params in (
            ("1%", _ONE_PERCENT, None),
            ("1k", _FIXED, [FIXED_CHANGE]),
        ):
            changed = _change(dbs.crm, where, params)
            out.append(_stage(cli, dbs, size, f"incr. sync {label}", ["sync", "--quiet", "--json"], changed))
            out.append(_stage(cli, dbs, size, f"incr. refresh {label}", ["attribute", "--json"], changed))
    return out


def _print_stage(s: Stage) -> None:
    engine = f"{s.engine:8.2f}" if s.engine is not None else f"{'-':>8}"
    per_lead = f"{s.wall / s.changed * 1000:9.3f}" if s.changed else f"{'-':>9}"
    print(
        f"{s.size:>10,} {s.name:<18} {s.wall:8.2f} {engine} {s.peak_rss_mb:7.0f} {s.crm_mb:8.0f} {s.bi_mb:8.0f} "
        f"{s.wal_mb:8.0f} {s.changed or '-':>8} {per_lead} {s.load:5.1f}  {s.detail}",
        flush=True,
    )


def _header() -> None:
    print(
        f"{'leads':>10} {'stage':<18} {'wall s':>8} {'engine s':>8} {'RSS MB':>7} {'CRM MB':>8} {'BI MB':>8} "
        f"{'WAL MB':>8} {'changed':>8} {'ms/chg':>9} {'load':>5}  what it did",
        flush=True,
    )


def exponent(n1: int, t1: float, n2: int, t2: float) -> float:
    """The growth exponent k of t ~ n^k between two sizes."""
    return math.log(t2 / t1) / math.log(n2 / n1)


def _verdict(stages: list[Stage]) -> bool:
    """Print the exponents between consecutive sizes and the verdict; True when every target holds."""
    sizes = sorted({s.size for s in stages})
    by = {(s.size, s.name): s for s in stages}
    names = list(dict.fromkeys(s.name for s in stages))
    met = True
    print("\ngrowth exponent log(t2/t1)/log(n2/n1) of the wall time (engine's part in brackets):")
    for name in names:
        cells = []
        for n1, n2 in itertools.pairwise(sizes):
            a, b = by.get((n1, name)), by.get((n2, name))
            if a is None or b is None:
                continue
            k = exponent(n1, a.wall, n2, b.wall)
            inner = (
                f" [{exponent(n1, a.engine, n2, b.engine):.2f}]"
                if a.engine and b.engine and a.engine > 0 and b.engine > 0
                else ""
            )
            cells.append(f"{n1:,}->{n2:,}: {k:.2f}{inner}")
            if name in FULL_STAGES and k > FULL_TARGET:
                met = False
        target = f"target <= {FULL_TARGET}" if name in FULL_STAGES else _incremental_target(name)
        print(f"  {name:<18} {'; '.join(cells) or 'one size only'}   ({target})")
    print(f"verdict: every full stage's exponent <= {FULL_TARGET}: {'MET' if met else 'NOT MET'}")
    for name in (n for n in names if n.endswith("1%")):
        per_lead = [f"{s.size:,}: {s.wall / s.changed * 1000:.2f} ms" for s in stages if s.name == name and s.changed]
        print(f"  {name}: wall time per changed lead {', '.join(per_lead)}")
        fixed = name.replace("1%", "1k")
        for size in sizes:
            one, few = by.get((size, name)), by.get((size, fixed))
            if one and few and one.changed and few.changed and one.changed > few.changed:
                marginal = (one.wall - few.wall) / (one.changed - few.changed) * 1000
                print(f"    {size:,}: marginal {marginal:.3f} ms per changed lead ({name} against {fixed})")
    return met


def _incremental_target(name: str) -> str:
    return "grows with the change: ~1 with 1% changed" if name.endswith("1%") else "fixed change: ~0 (flat)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="comma-separated lead counts")
    parser.add_argument("--organizations", type=int, default=3, help="organizations the seed spreads leads over")
    parser.add_argument(
        "--parallelism",
        type=int,
        help="BI sessions of the full rebuild (hyperdash attribute --parallelism; default: the command's own)",
    )
    args = parser.parse_args(argv)
    try:
        sizes = sorted(int(size) for size in args.sizes.split(","))
    except ValueError:
        parser.error(f"--sizes takes comma-separated whole numbers, like 100000,1000000; got {args.sizes!r}")
    external = os.environ.get(TEST_PG_URL_VAR)
    stages: list[Stage] = []
    with _server(libpq_url(external) if external else None) as admin_url:
        with connect(admin_url, "admin", APPLICATION) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        print(
            f"PostgreSQL {version[0] if version else '?'} ({'HYPERDASH_TEST_PG_URL' if external else 'embedded'}), "
            f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        _header()
        for size in sizes:
            stages.extend(_one_size(admin_url, size, args.organizations, args.parallelism))
    _verdict(stages)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
