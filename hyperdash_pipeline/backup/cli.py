"""`hyperdash backup --database crm|bi` and `hyperdash restore --database crm|bi FILE [--target-url URL]`."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from hyperdash_pipeline.backup.archive import ROLES, BackupError, backup_directory, create_backup, prune
from hyperdash_pipeline.backup.crypto import KEY_VAR, BackupFileError, key_from_environment
from hyperdash_pipeline.backup.restore import RestoreError, restore_backup
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.settings import redact


def register(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser("backup", help="write a backup file of the CRM or BI database (pg_dump + manifest)")
    backup.add_argument("--database", choices=ROLES, required=True)
    backup.add_argument("--directory", default="", help="default: HYPERDASH_BACKUP_DIR, else HYPERDASH_HOME/backups")
    backup.add_argument("--keep", type=_count, help="then keep only the newest N >= 1 backups (default: all)")
    backup.add_argument("--max-age-days", type=_days, help="then remove backups older than this many days (> 0)")
    backup.set_defaults(handler=_backup)

    restore = sub.add_parser(
        "restore",
        help="restore a backup file into a new database (default), --target-url, or over the live one",
        description=f"Encrypted files need {KEY_VAR}. Every restore is checked against the file's manifest.",
    )
    restore.add_argument("--database", choices=ROLES, required=True, help="which live database the file is of")
    restore.add_argument("file", type=Path)
    restore.add_argument("--target-url", help="restore into this (empty or missing) database instead")
    restore.add_argument(
        "--replace", action="store_true", help="replace the live database (kept as <name>_replaced_<stamp>)"
    )
    restore.add_argument("--yes", action="store_true", help="confirm --replace")
    restore.set_defaults(handler=_restore)


def _count(text: str) -> int:
    """--keep: a whole number >= 1 (the newest backup always stays; leave the option out to keep all)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1; leave --keep out to keep every backup")
    return int(text)


def _days(text: str) -> float:
    """--max-age-days: a positive number of days."""
    try:
        days = float(text)
    except ValueError:
        days = 0.0
    if not 0 < days < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of days; leave it out for no age limit")
    return days


def _live_url(role: str) -> str:
    urls = export_database_urls()
    return urls.crm if role == "crm" else urls.bi


def _backup(args: argparse.Namespace) -> int:
    try:
        directory = backup_directory(args.directory, setting="--directory")
        result = create_backup(_live_url(args.database), args.database, directory, key_from_environment())
    except BackupError as exc:
        print(f"hyperdash backup: {redact(str(exc))}", file=sys.stderr)
        return 1
    max_age = timedelta(days=args.max_age_days) if args.max_age_days else None
    removed = prune(directory, args.database, args.keep or sys.maxsize, max_age) if args.keep or max_age else []
    manifest = result.manifest
    rows = sum(t.rows for t in manifest.tables.values())
    state = "encrypted" if key_from_environment() else f"not encrypted ({KEY_VAR} unset)"
    print(
        f"{result.path}: {result.path.stat().st_size} bytes, {len(manifest.tables)} tables, {rows} rows, "
        f"{state}, {result.seconds:.1f} s; removed {len(removed)} older backup(s)"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    if args.replace and not args.yes:
        print("hyperdash restore: --replace swaps out the live database: add --yes to confirm", file=sys.stderr)
        return 2
    if args.replace and args.target_url:
        print("hyperdash restore: choose --replace or --target-url, not both", file=sys.stderr)
        return 2
    try:
        result = restore_backup(
            args.file,
            _live_url(args.database),
            key_from_environment(),
            target_url=args.target_url,
            replace=args.replace,
        )
    except (BackupFileError, RestoreError) as exc:
        print(f"hyperdash restore: {redact(str(exc))} (nothing was replaced)", file=sys.stderr)
        return 1
    rows = sum(t.rows for t in result.manifest.tables.values())
    print(
        f"restored {args.file} ({result.manifest.created_at}) into database {result.database}: "
        f"{len(result.manifest.tables)} tables, {rows} rows, equal to the backup's manifest; {result.seconds:.1f} s"
    )
    if result.replaced:
        print(f"the previous {args.database} database is kept as {result.replaced} (drop it when satisfied)")
    else:
        print(f"url: {redact(result.url)}")
    return 0
