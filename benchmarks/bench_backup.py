"""Backup, restore and reconciliation benchmark: our code beside the raw tools, on generated CRM leads.

    .venv/bin/python benchmarks/bench_backup.py                   # 1,000,000 leads
    .venv/bin/python benchmarks/bench_backup.py --rows 100000     # quicker
    .venv/bin/python benchmarks/bench_backup.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres

Without --pg-url an embedded PostgreSQL is started in a temporary folder. A fresh CRM and BI are created
and migrated, leads are generated inside PostgreSQL (benchmarks/sql/generate_leads.sql) and synced, then:
`create_backup` (pg_dump in an exported snapshot + manifest fingerprints + tar, plain and encrypted) beside
a bare `pg_dump --format=custom`; `restore_backup` (decrypt, pg_restore, compare with the manifest) beside a
bare `pg_restore --single-transaction` into a new database; `reconcile` beside one whole-table md5 of each
side (`mirror_fingerprints`). Everything is dropped at the end. Figures go to docs/operations.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from bench_sync import Row, _database_pair, _generate, _print, _server, _url  # noqa: E402

from hyperdash_pipeline.backup.archive import create_backup, split_password  # noqa: E402
from hyperdash_pipeline.backup.binaries import pg_tool  # noqa: E402
from hyperdash_pipeline.backup.restore import drop_database, restore_backup  # noqa: E402
from hyperdash_pipeline.connections import connect  # noqa: E402
from hyperdash_pipeline.sync.engine import mirror_fingerprints, run_sync  # noqa: E402
from hyperdash_pipeline.sync.reconcile import reconcile  # noqa: E402

APPLICATION = "hyperdash-bench-backup"
KEY = "benchmark passphrase"


def _timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.monotonic()
    value = action()
    return time.monotonic() - started, value


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _major(url: str) -> int:
    """The server's major version, to pick its pg_dump / pg_restore (a server-level question, as the backup's own)."""
    with connect(url, "admin", APPLICATION) as conn:
        return int(str(conn.execute("SHOW server_version_num").fetchone()[0])) // 10000  # type: ignore[index]


def _bare_dump(url: str, path: Path) -> None:
    conninfo, env = split_password(url)
    command = [str(pg_tool("pg_dump", _major(url))), "--format=custom", "--no-owner", f"--file={path}"]
    subprocess.run([*command, f"--dbname={conninfo}"], env=env, check=True)


def _bare_restore(admin_url: str, dump: Path, name: str) -> None:
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    conninfo, env = split_password(_url(admin_url, name))
    tool = pg_tool("pg_restore", _major(admin_url))
    subprocess.run(
        [str(tool), "--no-owner", "--exit-on-error", "--single-transaction", f"--dbname={conninfo}", str(dump)],
        env=env,
        check=True,
    )


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.0f} MB"


def bench(admin_url: str, rows: int) -> list[Row]:
    out: list[Row] = []
    with (
        _database_pair(admin_url, "backup", application=APPLICATION) as (crm, bi),
        tempfile.TemporaryDirectory() as tmp,
    ):
        folder = Path(tmp)
        _generate(crm, rows, application=APPLICATION)
        run_sync(crm, bi, mark_attribution_synced=False)

        bare = folder / "bare.dump"
        bare_s, _ = _timed(lambda: _bare_dump(crm, bare))
        plain_s, plain = _timed(lambda: create_backup(crm, "crm", folder, secret=None))
        sealed_s, sealed = _timed(lambda: create_backup(crm, "crm", folder, secret=KEY))
        out += [
            Row(f"CRM dump, {rows:,} leads ({_load()})", f"{plain_s:.1f} s, {_mb(plain.path)}",  # type: ignore[attr-defined]
                f"pg_dump {bare_s:.1f} s, {_mb(bare)}", f"{plain_s / bare_s:.2f}x"),
            Row(f"CRM dump, encrypted ({_load()})", f"{sealed_s:.1f} s, {_mb(sealed.path)}",  # type: ignore[attr-defined]
                f"pg_dump {bare_s:.1f} s", f"{sealed_s / bare_s:.2f}x"),
        ]  # fmt: skip

        name = f"bench_bare_restore_{os.getpid()}"
        bare_r, _ = _timed(lambda: _bare_restore(admin_url, bare, name))
        drop_database(admin_url, name)
        os.environ["HYPERDASH_BACKUP_KEY"] = KEY
        ours_r, restored = _timed(lambda: restore_backup(sealed.path, crm, KEY))  # type: ignore[attr-defined]
        drop_database(admin_url, restored.database)  # type: ignore[attr-defined]
        out.append(
            Row(f"CRM restore + manifest check ({_load()})", f"{ours_r:.1f} s", f"pg_restore {bare_r:.1f} s",
                f"{ours_r / bare_r:.2f}x")
        )  # fmt: skip

        md5_s, _ = _timed(lambda: mirror_fingerprints(crm, bi, "leads"))
        rec_s, _ = _timed(lambda: reconcile(crm, bi, ["leads"], repair=False))
        with connect(bi, "bi", APPLICATION, autocommit=True) as conn:
            conn.execute("UPDATE crm_raw.leads SET status = 'x' WHERE id IN (SELECT id FROM crm_raw.leads LIMIT 10)")
        fix_s, fixed = _timed(lambda: reconcile(crm, bi, ["leads"]))
        assert fixed.tables["leads"].updated == 10  # type: ignore[attr-defined]
        out += [
            Row(f"reconcile leads, in sync ({_load()})", f"{rec_s:.1f} s", f"whole-table md5 both sides {md5_s:.1f} s",
                f"{rec_s / md5_s:.2f}x"),
            Row(f"reconcile leads, 10 rows tampered, repaired ({_load()})", f"{fix_s:.1f} s",
                f"whole-table md5 {md5_s:.1f} s", f"{fix_s / md5_s:.2f}x"),
        ]  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", help="admin URL of a PostgreSQL server to use instead of an embedded one")
    args = parser.parse_args()
    with _server(args.pg_url) as admin_url:
        print(f"load average {os.getloadavg()[0]:.1f} at the start (2-core machine shared with other jobs)")
        rows = bench(admin_url, args.rows)
        _print(rows, admin_url, application=APPLICATION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
