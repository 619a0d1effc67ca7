"""What a backup records about its database at dump time, and the comparison a restore is checked by."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from hyperdash_pipeline.settings import read_sql

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class TableFingerprint:
    rows: int
    fingerprint: str


@dataclass
class Manifest:
    database: str  # "crm" or "bi" (the role), not the server's database name
    created_at: str
    server_version: str
    system_identifier: str | None
    source_database: str
    tables: dict[str, TableFingerprint]
    dump_bytes: int = 0
    dump_sha256: str = ""
    pg_dump: str = ""
    crm_generation: int | None = None
    format: int = MANIFEST_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        tables = {name: TableFingerprint(**value) for name, value in data.pop("tables").items()}
        return cls(tables=tables, **data)


def prepare_session(conn: psycopg.Connection) -> None:
    """Fingerprints read rows as text: the same settings on every side make the same text."""
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("SET DateStyle = 'ISO, MDY'")
    conn.execute("SET IntervalStyle = 'postgres'")
    conn.execute("SET extra_float_digits = 1")


def table_fingerprints(conn: psycopg.Connection) -> dict[str, TableFingerprint]:
    """Per-table row count and fingerprint of every table of the connected database."""
    prepare_session(conn)
    result: dict[str, TableFingerprint] = {}
    template = read_sql("transforms/backup/fingerprint.sql")
    for schema, table in conn.execute(read_sql("transforms/backup/tables.sql")).fetchall():
        query = sql.SQL(template).format(table=sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
        assert row is not None  # an aggregate always returns one row
        result[f"{schema}.{table}"] = TableFingerprint(rows=int(row[0]), fingerprint=str(row[1]))
    return result


def server_identity(conn: psycopg.Connection) -> tuple[str, int, str | None]:
    """(server_version, server_version_num, system identifier or None when the role may not read it)."""
    version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    number = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
    return version, number, system_identifier(conn)


def system_identifier(conn: psycopg.Connection) -> str | None:
    """The cluster's system identifier (unique per initdb, kept by physical replicas), if readable."""
    try:
        with conn.transaction():
            row = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return None
    return str(row[0]) if row else None


def differences(expected: dict[str, TableFingerprint], actual: dict[str, TableFingerprint]) -> list[str]:
    """Each table whose rows or fingerprint differ, in words; empty when the databases match."""
    lines = []
    for name in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(name), actual.get(name)
        if want is None:
            lines.append(f"{name}: not in the backup's manifest but in the restored database")
        elif got is None:
            lines.append(f"{name}: in the backup's manifest but missing from the restored database")
        elif want.rows != got.rows:
            lines.append(f"{name}: {got.rows} rows restored, {want.rows} at backup time")
        elif want.fingerprint != got.fingerprint:
            lines.append(f"{name}: {got.rows} rows as at backup time but their content differs")
    return lines
