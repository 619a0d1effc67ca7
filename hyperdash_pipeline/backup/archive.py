"""Backup files: a pg_dump of one database plus its manifest, optionally encrypted, written with mode 0600.

A file is `<role>-<UTC stamp>.hdbackup` in `<directory>/<role>/`: the header of crypto.py, then an
uncompressed tar stream (pg_dump's custom format is compressed already) of `manifest.json` and
`database.dump`. The manifest's per-table counts and fingerprints are taken in the very snapshot pg_dump
dumps (`pg_export_snapshot` / `pg_dump --snapshot`), so a restore can be checked against it exactly.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hyperdash_pipeline.backup.binaries import pg_tool
from hyperdash_pipeline.backup.crypto import BackupFileError, DecryptingReader, EncryptingWriter
from hyperdash_pipeline.backup.manifest import Manifest, server_identity, table_fingerprints
from hyperdash_pipeline.connections import DatabaseConnectionError, connect
from hyperdash_pipeline.settings import hyperdash_home, libpq_url, redact

SUFFIX = ".hdbackup"
ROLES = ("crm", "bi")
DIRECTORY_VAR = "HYPERDASH_BACKUP_DIR"
ROOT_VAR = "HYPERDASH_BACKUP_ROOT"
_MANIFEST_NAME, _DUMP_NAME = "manifest.json", "database.dump"
_APPLICATION = "hyperdash-backup"


class BackupError(RuntimeError):
    """A backup could not be written; earlier backups are untouched. The message carries no password."""


class BackupConfigError(BackupError):
    """A backup setting is out of bounds; the message names the setting and the fix."""


def backup_root() -> Path:
    """The folder every backup directory must lie in: `HYPERDASH_BACKUP_ROOT`, else `HYPERDASH_HOME`."""
    chosen = os.environ.get(ROOT_VAR, "")
    return Path(chosen).expanduser().resolve() if chosen else hyperdash_home()


def backup_directory(configured: str = "", setting: str = "the `directory` run config") -> Path:
    """Where backups go: `configured` (named `setting` in errors), else `HYPERDASH_BACKUP_DIR`, else
    `HYPERDASH_HOME/backups`; it must resolve inside `backup_root()`.

    The directory can come from a run config anyone with the UI's launchpad edits, and backups hold every
    row: the root, set where the process starts, bounds where they can be written. resolve() follows `..`
    and symlinks first, so neither escapes it.
    """
    chosen = configured or os.environ.get(DIRECTORY_VAR, "")
    directory = Path(chosen).expanduser().resolve() if chosen else hyperdash_home() / "backups"
    root = backup_root()
    if not directory.is_relative_to(root):
        named = setting if configured else DIRECTORY_VAR if chosen else "the default HYPERDASH_HOME/backups"
        raise BackupConfigError(
            f"{named} ({chosen or directory}) resolves to {directory}, outside the allowed backup root {root} "
            f"({ROOT_VAR}, default HYPERDASH_HOME): choose a folder under {root}, or set {ROOT_VAR} to the "
            "folder backups may be written to"
        )
    return directory


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest
    seconds: float


def split_password(url: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment carrying it (PGPASSWORD, never argv)."""
    params = conninfo_to_dict(libpq_url(url))
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def _private_dir(parent: Path) -> Path:
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix=".partial-", dir=parent))


def _no_space(exc: OSError, folder: Path) -> BackupError:
    return BackupError(
        f"the backup directory {folder} is full ({os.strerror(exc.errno or errno.ENOSPC)}): free space there, "
        "lower the retention (keep / max_age_days) or point HYPERDASH_BACKUP_DIR elsewhere; "
        "earlier backups were kept"
    )


def create_backup(
    url: str, role: str, directory: Path, secret: str | None, now: datetime | None = None
) -> BackupResult:
    """Dump the database at `url` into a new backup file under `directory/role/` (atomically, mode 0600)."""
    started = datetime.now(UTC)
    stamp = (now or started).strftime("%Y%m%dT%H%M%S%fZ")
    folder = directory / role
    destination = folder / f"{role}-{stamp}{SUFFIX}"
    try:
        work = _private_dir(folder)
    except OSError as exc:
        raise BackupError(f"cannot create the backup directory {folder}: {exc.strerror}") from None
    try:
        dump = work / _DUMP_NAME
        manifest = _dump_with_manifest(url, role, dump, started)
        partial = work / destination.name
        _write_archive(partial, manifest, dump, secret)
        partial.rename(destination)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space(exc, folder) from None
        raise BackupError(f"writing the backup under {folder} failed: {exc}") from None
    finally:
        _remove_tree(work)
    return BackupResult(destination, manifest, (datetime.now(UTC) - started).total_seconds())


def _remove_tree(path: Path) -> None:
    for child in path.glob("*"):
        child.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.rmdir()


def _dump_with_manifest(url: str, role: str, dump: Path, started: datetime) -> Manifest:
    """pg_dump the database in an exported snapshot while the manifest is read from the same snapshot."""
    conninfo, env = split_password(url)
    try:
        conn = connect(url, "admin", _APPLICATION)
    except DatabaseConnectionError as exc:
        raise BackupError(str(exc)) from None
    with closing(conn):
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = str(conn.execute("SELECT pg_export_snapshot()").fetchone()[0])  # type: ignore[index]
        version, number, system_id = server_identity(conn)
        tool = pg_tool("pg_dump", number // 10000)
        process = subprocess.Popen(
            [str(tool), "--format=custom", "--no-owner", f"--snapshot={snapshot}", f"--file={dump}",
             f"--dbname={conninfo}"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            tables = table_fingerprints(conn)
            generation = _crm_generation(conn) if role == "crm" else None
            source_database = str(conn.info.dbname)
        finally:
            _, stderr = process.communicate()
        conn.rollback()
    if process.returncode != 0:
        if "No space left on device" in stderr:
            raise _no_space(OSError(errno.ENOSPC, "no space"), dump.parent.parent)
        raise BackupError(f"pg_dump of {redact(url)} failed: {redact(stderr.strip())}")
    return Manifest(
        database=role,
        created_at=started.isoformat(),
        server_version=version,
        system_identifier=system_id,
        source_database=source_database,
        tables=tables,
        dump_bytes=dump.stat().st_size,
        dump_sha256=_sha256(dump),
        pg_dump=str(tool),
        crm_generation=generation,
    )


def _crm_generation(conn: psycopg.Connection) -> int | None:
    with conn.transaction():  # a savepoint: a CRM without the marker table reads None
        try:
            row = conn.execute("SELECT generation FROM hyperdash_sync_generation").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return int(row[0]) if row else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_archive(path: Path, manifest: Manifest, dump: Path, secret: str | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        writer = EncryptingWriter(sink, secret)
        with tarfile.open(fileobj=writer, mode="w|") as tar:  # type: ignore[call-overload]
            body = json.dumps(manifest.to_json(), indent=2).encode()
            info = tarfile.TarInfo(_MANIFEST_NAME)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
            tar.add(dump, arcname=_DUMP_NAME)
        writer.close()
        sink.flush()
        os.fsync(sink.fileno())


@contextlib.contextmanager
def opened_backup(path: Path, secret: str | None) -> Iterator[tuple[Manifest, Path]]:
    """The manifest and the dump of a backup file, extracted into a private temporary folder.

    Raises BackupFileError, naming the file and the fix, for a missing or wrong key, a truncated or
    altered file, or a file that is not a backup."""
    if not path.is_file():
        raise BackupFileError(f"{path} does not exist")
    with tempfile.TemporaryDirectory(prefix="hyperdash-restore-") as tmp, path.open("rb") as source:
        reader = DecryptingReader(source, secret, str(path))
        dump = Path(tmp) / _DUMP_NAME
        manifest: Manifest | None = None
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    extracted = tar.extractfile(member)
                    if extracted is None:
                        continue
                    if member.name == _MANIFEST_NAME:
                        manifest = Manifest.from_json(json.loads(extracted.read()))
                    elif member.name == _DUMP_NAME:
                        with dump.open("wb") as out:
                            for chunk in iter(lambda e=extracted: e.read(1 << 20), b""):  # type: ignore[misc]
                                out.write(chunk)
        except (tarfile.TarError, EOFError, json.JSONDecodeError, TypeError, KeyError) as exc:
            raise BackupFileError(f"{path} is truncated or corrupt ({exc}): use another backup") from None
        if manifest is None or not dump.is_file():
            raise BackupFileError(f"{path} is truncated or corrupt (no manifest or no dump inside): use another backup")
        if dump.stat().st_size != manifest.dump_bytes or _sha256(dump) != manifest.dump_sha256:
            raise BackupFileError(f"{path} is truncated or corrupt (its dump does not match its manifest)")
        yield manifest, dump


def list_backups(directory: Path, role: str) -> list[Path]:
    """The backup files of `role`, oldest first (their names sort by time)."""
    return sorted((directory / role).glob(f"{role}-*{SUFFIX}"))


def backup_time(path: Path) -> datetime:
    stamp = path.name.split("-", 1)[1].removesuffix(SUFFIX)
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


def prune(directory: Path, role: str, keep: int, max_age: timedelta | None, now: datetime | None = None) -> list[Path]:
    """Remove the backups beyond the newest `keep` and those older than `max_age`; the newest always stays."""
    backups = list_backups(directory, role)
    moment = now or datetime.now(UTC)
    removed = []
    for index, path in enumerate(backups):
        newest = index == len(backups) - 1
        too_many = index < len(backups) - max(keep, 1)
        too_old = max_age is not None and moment - backup_time(path) > max_age
        if not newest and (too_many or too_old):
            path.unlink()
            removed.append(path)
    return removed
