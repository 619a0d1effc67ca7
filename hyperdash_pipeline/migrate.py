"""Versioned SQL migrations for the CRM and BI databases, applied with yoyo-migrations.

yoyo runs the plain `.sql` files under `sql/crm/` and `sql/bi/`, each in its own transaction, and
records them in `_yoyo_migration`. yoyo does not notice a file edited after it was applied, so we
keep a sha256 of every applied file in `hyperdash_migration_checksums` and refuse to go on when one
no longer matches: an applied migration is history, and a change belongs in a new file.

An existing CRM (`--existing-crm`) has one migration history with a new one: `sql/crm_adopt/` gives its own
tables what `sql/crm/0001` would have created, 0001 is recorded as applied, and every later `sql/crm`
migration then applies to it like to any other CRM.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

from hyperdash_pipeline.connections import DatabaseConnectionError, connect
from hyperdash_pipeline.settings import SQL_DIR, libpq_url
from hyperdash_pipeline.sync.schema import CRM_TABLES

CHECKSUM_TABLE = "hyperdash_migration_checksums"
ADOPTION_SCRIPT = SQL_DIR / "crm_adopt" / "adopt_existing_crm.sql"
CRM_CORE_MIGRATION = "0001_core_tables"
# The columns adoption cannot add for you (the CRM's own data): each table needs them before adoption.
ADOPTION_NEEDS = {table: ("id", "organization_id") for table in CRM_TABLES} | {
    "leads": ("id", "organization_id", "created_at"),
    "deals": ("id", "organization_id", "lead_id"),
    "contacts": ("id", "organization_id", "email", "created_at"),  # the webhook finds contacts by e-mail (0601, 0602)
}
# An existing CRM adopted before the single history (files sql/crm_existing/0001-0003 of earlier releases)
# already holds what these sql/crm migrations create: they are recorded as applied, not run again.
_EARLIER_ADOPTION = {
    "0001_add_attribution_columns": CRM_CORE_MIGRATION,
    "0002_sync_support": "0101_sync_support",
    "0003_receipt_hot_updates": "0102_receipt_hot_updates",
}


class MigrationError(RuntimeError):
    """A migration cannot be applied as things stand; the message says which file and what to do."""


@dataclass
class MigrationReport:
    database: str
    applied: list[str] = field(default_factory=list)
    already_applied: int = 0


def _yoyo_url(url: str) -> str:
    return "postgresql+psycopg://" + libpq_url(url).partition("://")[2]


# Applied migrations edited afterwards in their comments only, each with the sha256 its file had before the edit:
# a database that recorded that digest is moved to the file's current one. Any other edit of an applied file is
# still refused. The one so far: the founding brief's file name (never in the repository) replaced by
# docs/contracts.md, which restates its contracts. (0205's edit is inside its COMMENT ON text: migration 1805
# gives databases that ran the earlier 0205 the same comment.)
REVIEWED_EDITS: dict[str, frozenset[str]] = {
    "0001_core_tables": frozenset({"0ff04aa284656c0276b43be154636feb140dee7ba99d205b6d506b8203ce7f6a"}),
    "0003_analytics_attribution": frozenset({"3984ce2f3b925881e10c139960b0605ba61a976759ae62acd2f3497ebc0ec83f"}),
    "0201_attribution_state": frozenset({"861ec0be13ad4433876017db97b9b9aec6085872a04ebd8e7adcca8f8a615aa5"}),
    "0205_attribution_credits_wide": frozenset({"e46f1ec31ed91b6cf915c23fbd6302ec98e11bfccdd23df47b0374d33a743fb2"}),
    "0301_analytics_correlation": frozenset({"91d44eef13f1f6ea97f1aa1ab0e3347e6434166b972f8968369739248c228c91"}),
}


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ensure_checksum_table(conn: psycopg.Connection) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {CHECKSUM_TABLE} ("
        " migration_id text PRIMARY KEY, sha256 text NOT NULL,"
        " recorded_at timestamptz NOT NULL DEFAULT now())"
    )


def _verify_applied_unchanged(conn: psycopg.Connection, files: dict[str, Path], database: str) -> None:
    """Refuse an applied migration whose file changed, unless the change is in REVIEWED_EDITS: then the recorded
    digest moves to the file's current one."""
    recorded: dict[str, str] = dict(conn.execute(f"SELECT migration_id, sha256 FROM {CHECKSUM_TABLE}").fetchall())
    for migration_id, digest in recorded.items():
        path = files.get(migration_id)
        if path is None or _checksum(path) == digest:
            continue
        if digest in REVIEWED_EDITS.get(migration_id, frozenset()):
            conn.execute(
                f"UPDATE {CHECKSUM_TABLE} SET sha256 = %s, recorded_at = now() WHERE migration_id = %s",
                (_checksum(path), migration_id),
            )
        else:
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
    with _connect(url, database) as conn:
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
    """Bring both databases up to date. With `existing_crm`, a CRM that already has its own tables is
    adopted first (once); either way the CRM then gets every pending `sql/crm` migration."""
    adopt_existing_crm(crm_url, requested=existing_crm)
    return [
        apply_migrations(crm_url, SQL_DIR / "crm", "CRM"),
        apply_migrations(bi_url, SQL_DIR / "bi", "BI"),
    ]


def adopt_existing_crm(url: str, *, requested: bool) -> bool:
    """Make an existing CRM's history the same as a new CRM's; True when it adopted it now.

    Nothing happens when `sql/crm/0001` is already recorded (a new CRM, or one adopted before). A CRM adopted
    by the earlier `sql/crm_existing` track is adopted without being asked: its later migrations could never
    apply otherwise. A CRM with its own `leads` table and no history needs `--existing-crm`: without it,
    0001 would fail on "relation already exists", so the error says so first.
    """
    with _connect(url, "CRM") as conn:
        history = _yoyo_history(conn)
        if CRM_CORE_MIGRATION in history:
            return False
        earlier = [old for old in _EARLIER_ADOPTION if old in history]
        if not requested and not earlier:
            if _has_table(conn, "leads"):
                raise MigrationError(
                    "the CRM already has its own leads table but no hyperdash migration history: "
                    "run `hyperdash migrate --existing-crm` once to adopt it (sql/crm_adopt/)"
                )
            return False
        _check_adoptable(conn)
        with conn.transaction():
            conn.execute(ADOPTION_SCRIPT.read_text())
    _mark_applied(url, {CRM_CORE_MIGRATION, *(_EARLIER_ADOPTION[old] for old in earlier)})
    return True


def _connect(url: str, database: str) -> psycopg.Connection:
    try:
        return connect(url, "admin", "hyperdash-migrate", autocommit=True)
    except DatabaseConnectionError as exc:
        raise MigrationError(f"{database} database: {exc}") from None


def _yoyo_history(conn: psycopg.Connection) -> set[str]:
    if not _has_table(conn, "_yoyo_migration"):
        return set()
    return {row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration").fetchall()}


def _has_table(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"public.{table}"]).fetchone() == (True,)


def _check_adoptable(conn: psycopg.Connection) -> None:
    """Name every table or column adoption needs and the CRM lacks, with what to do, before changing anything."""
    query = "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
    problems = []
    for table, needed in ADOPTION_NEEDS.items():
        present = {row[0] for row in conn.execute(query, [f"public.{table}"]).fetchall()}
        if not present:
            problems.append(f"table public.{table} is missing")
        else:
            problems.extend(f"{table}.{column} is missing" for column in needed if column not in present)
    if problems:
        raise MigrationError(
            "this CRM cannot be adopted yet: "
            + "; ".join(problems)
            + ". The pipeline reads these from the CRM's own data and no migration can invent them: "
            "add them to those tables and run `hyperdash migrate --existing-crm` again."
        )


def _mark_applied(url: str, migration_ids: set[str]) -> None:
    """Record `migration_ids` of sql/crm as applied in yoyo's history (and their checksums) without running them."""
    folder = SQL_DIR / "crm"
    files = {path.stem: path for path in sorted(folder.glob("*.sql"))}
    backend = get_backend(_yoyo_url(url))
    try:
        migrations = read_migrations(str(folder))
        with backend.lock():
            chosen = migrations.filter(lambda m: m.id in migration_ids)
            backend.mark_migrations(backend.to_apply(chosen))
    finally:
        backend.connection.close()
    with _connect(url, "CRM") as conn:
        _ensure_checksum_table(conn)
        _record_checksums(conn, files, migration_ids)
