"""Restore a backup file into a new database (default), a given one, or in place of the live database.

Every restore is checked against the backup's manifest (per-table row counts and fingerprints) before it
counts as done. Replacing the live database restores into a scratch database first, checks it, and only
then swaps the names (the live one is kept, renamed `<name>_replaced_<stamp>`): a bad file, a wrong key or
a failed check leaves the live database untouched.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from hyperdash_pipeline.backup.archive import opened_backup, split_password
from hyperdash_pipeline.backup.binaries import pg_tool
from hyperdash_pipeline.backup.manifest import Manifest, differences, table_fingerprints
from hyperdash_pipeline.connections import DatabaseConnectionError, connect
from hyperdash_pipeline.settings import libpq_url, redact

_APPLICATION = "hyperdash-restore"


class RestoreError(RuntimeError):
    """A restore failed or does not match its backup; the message says what and carries no password."""


@dataclass(frozen=True)
class RestoreResult:
    database: str  # the database now holding the restored data
    url: str
    manifest: Manifest
    replaced: str | None  # the live database's new name after --replace
    seconds: float


def database_url(url: str, database: str) -> str:
    """`url` pointed at another database of the same server."""
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(path="/" + quote(database)))


def _database_name(url: str) -> str:
    return str(conninfo_to_dict(libpq_url(url)).get("dbname") or "postgres")


def _admin(url: str) -> psycopg.Connection:
    """An autocommit connection to the server's maintenance database (CREATE/ALTER/DROP DATABASE)."""
    try:
        return connect(database_url(url, "postgres"), "admin", _APPLICATION, autocommit=True)
    except DatabaseConnectionError as exc:
        raise RestoreError(str(exc)) from None


def _exists(admin: psycopg.Connection, name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _create(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(url: str, name: str) -> None:
    with closing(_admin(url)) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _is_empty(url: str) -> bool:
    with closing(connect(url, "admin", _APPLICATION, autocommit=True)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%'"
        ).fetchone()
    return row is not None and int(row[0]) == 0


def _pg_restore(dump: Path, target_url: str) -> None:
    with closing(connect(target_url, "admin", _APPLICATION, autocommit=True)) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000  # type: ignore[index]
    conninfo, env = split_password(target_url)
    result = subprocess.run(
        [str(pg_tool("pg_restore", major)), "--no-owner", "--exit-on-error", "--single-transaction",
         f"--dbname={conninfo}", str(dump)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RestoreError(f"pg_restore into {redact(target_url)} failed: {redact(result.stderr.strip())}")


def verify(target_url: str, manifest: Manifest) -> list[str]:
    """The tables of the database at `target_url` that differ from the manifest (empty: identical)."""
    with closing(connect(target_url, "admin", _APPLICATION, autocommit=True)) as conn:
        return differences(manifest.tables, table_fingerprints(conn))


def _restore_checked(dump: Path, manifest: Manifest, target_url: str) -> None:
    _pg_restore(dump, target_url)
    mismatches = verify(target_url, manifest)
    if mismatches:
        raise RestoreError(
            f"the database restored into {redact(target_url)} differs from its backup's manifest: "
            + "; ".join(mismatches)
        )


def restore_backup(
    path: Path,
    live_url: str,
    secret: str | None,
    *,
    target_url: str | None = None,
    replace: bool = False,
    now: datetime | None = None,
) -> RestoreResult:
    """Restore `path`. Default: into a new database `<live>_restored_<stamp>` on the live database's server.

    `target_url`: into that database (created when missing; it must be empty). `replace`: in place of
    the live database (`live_url`), which is kept under `<live>_replaced_<stamp>`.
    """
    started = time.monotonic()
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    live = _database_name(live_url)
    with opened_backup(path, secret) as (manifest, dump):
        if replace:
            scratch = f"{live}_restoring_{stamp}"
            _restore_into_new(dump, manifest, live_url, scratch)
            replaced = _swap(live_url, live, scratch, stamp)
            return RestoreResult(live, live_url, manifest, replaced, time.monotonic() - started)
        if target_url is None:
            name = f"{live}_restored_{stamp}"
            url = _restore_into_new(dump, manifest, live_url, name)
            return RestoreResult(name, url, manifest, None, time.monotonic() - started)
        _restore_into_given(dump, manifest, target_url)
        return RestoreResult(_database_name(target_url), target_url, manifest, None, time.monotonic() - started)


def _restore_into_new(dump: Path, manifest: Manifest, server_url: str, name: str) -> str:
    """Restore into a database created for it; on any failure the database is dropped again."""
    with closing(_admin(server_url)) as admin:
        if _exists(admin, name):
            raise RestoreError(f"database {name} already exists: drop it or restore into another")
        _create(admin, name)
    url = database_url(server_url, name)
    try:
        _restore_checked(dump, manifest, url)
    except BaseException:
        drop_database(server_url, name)
        raise
    return url


def _restore_into_given(dump: Path, manifest: Manifest, target_url: str) -> None:
    name = _database_name(target_url)
    with closing(_admin(target_url)) as admin:
        if not _exists(admin, name):
            _create(admin, name)
    if not _is_empty(target_url):
        raise RestoreError(
            f"{redact(target_url)} already holds tables: restore into an empty or new database "
            "(or use --replace --yes on the live one)"
        )
    _restore_checked(dump, manifest, target_url)


def _swap(live_url: str, live: str, scratch: str, stamp: str) -> str:
    """Put the checked scratch database in place of the live one; the live one is kept, renamed."""
    replaced = f"{live}_replaced_{stamp}"
    with closing(_admin(live_url)) as admin:
        rename = "ALTER DATABASE {} RENAME TO {}"
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(live)))
        try:
            _terminate_connections(admin, live)
            admin.execute(sql.SQL(rename).format(sql.Identifier(live), sql.Identifier(replaced)))
        except psycopg.Error as exc:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(live)))
            drop_database(live_url, scratch)
            raise RestoreError(f"could not take {live} out of service ({exc}); it was left as it was") from None
        admin.execute(sql.SQL(rename).format(sql.Identifier(scratch), sql.Identifier(live)))
    return replaced


def _terminate_connections(admin: psycopg.Connection, database: str, attempts: int = 50) -> None:
    """End every session on `database` (it refuses new ones by now); waits until they are gone."""
    for _ in range(attempts):
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        left = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]).fetchone()
        if left and int(left[0]) == 0:
            return
        time.sleep(0.1)
