"""Versioned SQL migrations for the CRM and BI databases, applied with yoyo-migrations.

yoyo runs the plain `.sql` files under `sql/crm/` and `sql/bi/`, each in its own transaction, and
records them in `_yoyo_migration`. yoyo does not notice a file edited after it was applied, so we
keep a sha256 of every applied file in `hyperdash_migration_checksums` and refuse to go on when one
no longer matches: an applied migration is history, and a change belongs in a new file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

from hyperdash_pipeline.settings import SQL_DIR, libpq_url, redact

CHECKSUM_TABLE = "hyperdash_migration_checksums"


class MigrationError(RuntimeError):
    """A migration cannot be applied as things stand; the message says which file and what to do."""


@dataclass
class MigrationReport:
    database: str
    applied: list[str] = field(default_factory=list)
    already_applied: int = 0


def _yoyo_url(url: str) -> str:
    return "postgresql+psycopg://" + libpq_url(url).partition("://")[2]


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ensure_checksum_table(conn: psycopg.Connection) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {CHECKSUM_TABLE} ("
        " migration_id text PRIMARY KEY, sha256 text NOT NULL,"
        " recorded_at timestamptz NOT NULL DEFAULT now())"
    )


def _verify_applied_unchanged(conn: psycopg.Connection, files: dict[str, Path], database: str) -> None:
    recorded: dict[str, str] = dict(conn.execute(f"SELECT migration_id, sha256 FROM {CHECKSUM_TABLE}").fetchall())
    for migration_id, digest in recorded.items():
        path = files.get(migration_id)
        if path is not None and _checksum(path) != digest:
            raise MigrationError(
                f"{path} was edited after it was applied to the {database} database "
                f"(sha256 {digest[:12]}... recorded, {_checksum(path)[:12]}... on disk). "
                "Applied migrations are history: restore the file (git checkout) and put the change "
                "in a new migration file with the next number."
            )


def _record_checksums(conn: psycopg.Connection, files: dict[str, Path], applied_ids: set[str]) -> None:
    for migration_id in sorted(applied_ids):
        conn.execute(
            f"INSERT INTO {CHECKSUM_TABLE} (migration_id, sha256) VALUES (%s, %s) "
            "ON CONFLICT (migration_id) DO NOTHING",
            (migration_id, _checksum(files[migration_id])),
        )


def apply_migrations(url: str, folder: Path, database: str) -> MigrationReport:
    """Apply what is pending under `folder` to the database at `url`; idempotent."""
    files = {path.stem: path for path in sorted(folder.glob("*.sql"))}
    if not files:
        raise MigrationError(f"no migration files in {folder}: the installation is incomplete (reinstall the package)")
    try:
        conn = psycopg.connect(libpq_url(url), autocommit=True, application_name="hyperdash-migrate")
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot reach the {database} database at {redact(url)}: {redact(str(exc))}") from None
    with conn:
        _ensure_checksum_table(conn)
        _verify_applied_unchanged(conn, files, database)
        backend = get_backend(_yoyo_url(url))
        try:
            migrations = read_migrations(str(folder))
            with backend.lock():
                pending = backend.to_apply(migrations)
                backend.apply_migrations(pending)
                still_pending = {m.id for m in backend.to_apply(migrations)}
                applied_ids = {m.id for m in migrations} - still_pending
        finally:
            backend.connection.close()
        _record_checksums(conn, files, applied_ids)
    return MigrationReport(
        database=database,
        applied=[m.id for m in pending],
        already_applied=len(migrations) - len(pending),
    )


def migrate_all(crm_url: str, bi_url: str, *, existing_crm: bool = False) -> list[MigrationReport]:
    """Bring both databases up to date. With `existing_crm`, the CRM gets only the additive
    migration for a CRM that already has its own `leads` table (the seed's "Migração Futura")."""
    crm_folder = SQL_DIR / ("crm_existing" if existing_crm else "crm")
    return [
        apply_migrations(crm_url, crm_folder, "CRM"),
        apply_migrations(bi_url, SQL_DIR / "bi", "BI"),
    ]
