"""`hyperdash`: the command line. Each concern registers its own sub-commands here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from hyperdash_pipeline.settings import hyperdash_home, redact

Handler = Callable[[argparse.Namespace], int]


def _migrate(args: argparse.Namespace) -> int:
    from hyperdash_pipeline.embedded import export_database_urls
    from hyperdash_pipeline.migrate import migrate_all

    urls = export_database_urls()
    for report in migrate_all(urls.crm, urls.bi, existing_crm=args.existing_crm):
        applied = ", ".join(report.applied) or "nothing pending"
        print(f"{report.database}: applied {applied} ({report.already_applied} already applied)")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from hyperdash_pipeline.embedded import stop_embedded

    home = hyperdash_home()
    if stop_embedded(home):
        print(f"stopped the embedded PostgreSQL under {home}")
    else:
        print(f"no embedded PostgreSQL runs under {home}")
    return 0


def _env(args: argparse.Namespace) -> int:
    from hyperdash_pipeline.embedded import export_database_urls

    urls = export_database_urls()
    for name, value in urls.as_environ().items():
        print(f"export {name}='{value}'")
    return 0


def _register_foundation(sub: argparse._SubParsersAction) -> None:
    migrate = sub.add_parser("migrate", help="apply pending SQL migrations to the CRM and BI databases")
    migrate.add_argument(
        "--existing-crm",
        action="store_true",
        help="the CRM already has its own tables: adopt them once (sql/crm_adopt), then apply sql/crm like on any CRM",
    )
    migrate.set_defaults(handler=_migrate)
    sub.add_parser("stop", help="stop the embedded PostgreSQL server").set_defaults(handler=_stop)
    sub.add_parser("env", help="print the database URLs in use as shell exports").set_defaults(handler=_env)


class Registrar(NamedTuple):
    """Where the sub-commands of one concern are registered: `module:function`, and the commands it adds."""

    target: str
    commands: tuple[str, ...]

    def load(self) -> Callable[[argparse._SubParsersAction], None]:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)


# The command table, in help order. A command imports only its own concern's module, so `hyperdash sync`
# does not pay for loading attribution, ingestion or the whole Dagster Definitions (tests hold the
# `commands` equal to what each registrar adds).
REGISTRARS: list[Registrar] = [
    Registrar("hyperdash_pipeline.cli:_register_foundation", ("migrate", "stop", "env")),
    Registrar("hyperdash_pipeline.demo:register", ("demo",)),
    Registrar("hyperdash_pipeline.sample_data.cli:register", ("seed",)),
    Registrar("hyperdash_pipeline.sync.cli:register", ("sync", "reconcile")),
    Registrar("hyperdash_pipeline.ingestion.cli:register", ("import-ads", "import-fx", "add-integration")),
    Registrar(
        "hyperdash_pipeline.webhook.cli:register", ("webhook", "webhook-secret", "webhook-reencrypt", "webhook-key")
    ),
    Registrar("hyperdash_pipeline.attribution.cli:register", ("attribute",)),
    Registrar("hyperdash_pipeline.commands:register", ("dev", "status", "report")),
    Registrar("hyperdash_pipeline.backup.cli:register", ("backup", "restore")),
    Registrar("hyperdash_pipeline.security.cli:register", ("roles",)),
    Registrar("hyperdash_pipeline.distributed.cli:register", ("worker",)),
    Registrar("hyperdash_pipeline.conversions.cli:register", ("send-conversions",)),
]

# Errors every command reports as one line (exit 2): (module, class). A module never imported cannot have
# raised its error, so main() looks them up in sys.modules instead of importing them.
_REPORTED_ERRORS = [
    ("hyperdash_pipeline.embedded", "EmbeddedServerError"),
    ("hyperdash_pipeline.migrate", "MigrationError"),
    ("hyperdash_pipeline.connections", "DatabaseConnectionError"),
    ("hyperdash_pipeline.sync.horizon", "SyncError"),
]


def _registrars_for(argv: Sequence[str]) -> list[Registrar]:
    """Only the registrar of the command in `argv`; all of them for help, errors or a command not in the table."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    owners = [r for r in REGISTRARS if command in r.commands]
    return owners or REGISTRARS


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with `argv` only of the command it names (a faster start)."""
    parser = argparse.ArgumentParser(prog="hyperdash", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for registrar in REGISTRARS if argv is None else _registrars_for(argv):
        registrar.load()(sub)
    return parser


def _is_reported_error(exc: BaseException) -> bool:
    for module, name in _REPORTED_ERRORS:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(exc, getattr(loaded, name)):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(arguments).parse_args(arguments)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _is_reported_error(exc):
            raise
        print(f"hyperdash {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
