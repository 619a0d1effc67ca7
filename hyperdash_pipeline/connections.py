"""The one way the pipeline opens a PostgreSQL connection.

Every connection (the sync, the sensors, the webhook's pool, the refreshes, the CLI, the benchmarks) carries an
`application_name` (a DBA sees who is connected in pg_stat_activity, and the sync recognises its own
backends by it), a statement timeout and a lock timeout. The timeouts are per database, from the environment,
with defaults that suit each side:

- CRM (the application's database: we never wait long on its locks): statements 30 min, locks 5 s;
  `HYPERDASH_CRM_STATEMENT_TIMEOUT_MS`, `HYPERDASH_CRM_LOCK_TIMEOUT_MS`.
- BI (ours: a full rebuild waits for a running refresh): statements 30 min, locks 30 s;
  `HYPERDASH_BI_STATEMENT_TIMEOUT_MS`, `HYPERDASH_BI_LOCK_TIMEOUT_MS`.
- admin (migrations, roles, backups and restores, the embedded server's setup): the server's own settings
  unless `HYPERDASH_ADMIN_STATEMENT_TIMEOUT_MS` / `HYPERDASH_ADMIN_LOCK_TIMEOUT_MS` are set (a migration may
  rightly wait for a lock or run long).

The statement timeout bounds the longest statement we run: a full copy of a large CRM table is one COPY.

A caller that needs another bound for one statement class (the sync's full copy, a sensor's quick read) passes
it explicitly; 0 disables a timeout. A failed connection raises DatabaseConnectionError naming the setting
that holds the URL, never its password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, libpq_url, redact

Database = Literal["crm", "bi", "admin"]
URL_VARS: dict[Database, str] = {"crm": CRM_URL_VAR, "bi": BI_URL_VAR}


class DatabaseConnectionError(psycopg.OperationalError):
    """A database could not be reached; the message never carries a password.

    An OperationalError, as psycopg's own would be: handlers of connection failures (retries, `status`'s
    "unknown") keep working, and see the redacted message."""


@dataclass(frozen=True)
class SessionLimits:
    """Timeouts in milliseconds; None leaves the server's setting."""

    statement_timeout_ms: int | None
    lock_timeout_ms: int | None


DEFAULT_LIMITS: dict[Database, SessionLimits] = {
    "crm": SessionLimits(statement_timeout_ms=30 * 60 * 1000, lock_timeout_ms=5_000),
    "bi": SessionLimits(statement_timeout_ms=30 * 60 * 1000, lock_timeout_ms=30_000),
    "admin": SessionLimits(statement_timeout_ms=None, lock_timeout_ms=None),
}


def _env_ms(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DatabaseConnectionError(f"{name}={raw!r} is not a number of milliseconds (0 disables)") from None
    if value < 0:
        raise DatabaseConnectionError(f"{name}={value} is negative: give milliseconds, or 0 to disable")
    return value


def configured_limits(database: Database) -> SessionLimits:
    """The database's limits: its defaults, overridden by HYPERDASH_<CRM|BI>_<STATEMENT|LOCK>_TIMEOUT_MS."""
    default = DEFAULT_LIMITS[database]
    prefix = f"HYPERDASH_{database.upper()}"
    return SessionLimits(
        statement_timeout_ms=_env_ms(f"{prefix}_STATEMENT_TIMEOUT_MS", default.statement_timeout_ms),
        lock_timeout_ms=_env_ms(f"{prefix}_LOCK_TIMEOUT_MS", default.lock_timeout_ms),
    )


def _limits(database: Database, statement_timeout_ms: int | None, lock_timeout_ms: int | None) -> dict[str, int]:
    limits = configured_limits(database)
    chosen = {
        "statement_timeout": limits.statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms,
        "lock_timeout": limits.lock_timeout_ms if lock_timeout_ms is None else lock_timeout_ms,
    }
    return {name: int(value) for name, value in chosen.items() if value is not None}


def session_kwargs(
    database: Database,
    application_name: str,
    *,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
) -> dict[str, Any]:
    """The keyword arguments of a connection: its name and its timeouts (as the `options` startup parameter)."""
    kwargs: dict[str, Any] = {"application_name": application_name}
    limits = _limits(database, statement_timeout_ms, lock_timeout_ms)
    if limits:
        kwargs["options"] = " ".join(f"-c {name}={value}" for name, value in limits.items())
    return kwargs


def connect(
    url: str,
    database: Database,
    application_name: str,
    *,
    autocommit: bool = False,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    through_pooler: bool = False,
    **extra: Any,
) -> psycopg.Connection:
    """Open a connection to `database` at `url`; the caller closes it (`with closing(...)` or `with conn`).

    `through_pooler`: the URL may be a pooler's, which refuses the `options` startup parameter: the
    connection then carries only its name (set limits with `session_limits_sql` once it is known direct).
    """
    if through_pooler:
        kwargs: dict[str, Any] = {"application_name": application_name}
    else:
        kwargs = session_kwargs(
            database, application_name, statement_timeout_ms=statement_timeout_ms, lock_timeout_ms=lock_timeout_ms
        )
    try:
        return psycopg.connect(libpq_url(url), autocommit=autocommit, **kwargs, **extra)
    except psycopg.OperationalError as exc:
        raise DatabaseConnectionError(
            f"cannot connect to {_which(database)} at {redact(url)} as {application_name}: {redact(str(exc)).strip()}"
        ) from None


def _which(database: Database) -> str:
    if database == "admin":
        return "the server"
    return f"the {database.upper()} database ({URL_VARS[database]})"


def sibling(conn: psycopg.Connection) -> psycopg.Connection:
    """Another session like `conn`: same server, database, user, application_name and timeouts (all in its DSN).

    For work split across sessions (the parallel attribution parts import one exported snapshot).
    """
    return psycopg.connect(conn.info.dsn, password=conn.info.password or None)


def pool_kwargs(application_name: str) -> dict[str, Any]:
    """A pool's per-connection keyword arguments: autocommit and the name, without the `options` startup
    parameter, which a pooler (PgBouncer, Neon's pooled endpoint) refuses; apply `session_limits_sql` once a
    connection is known to be direct."""
    return {"autocommit": True, "application_name": application_name}


def session_limits_sql(
    database: Database, *, statement_timeout_ms: int | None = None, lock_timeout_ms: int | None = None
) -> str:
    """The SET statements giving a session `database`'s timeouts (explicit values win); integers only."""
    limits = _limits(database, statement_timeout_ms, lock_timeout_ms)
    return "; ".join(f"SET {name} = {value}" for name, value in limits.items())
