"""`hyperdash`: the command line. Each concern registers its own sub-commands here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hyperdash_pipeline import demo
from hyperdash_pipeline.attribution.cli import register as register_attribution
from hyperdash_pipeline.conversions.cli import register as register_conversions
from hyperdash_pipeline.embedded import EmbeddedServerError, export_database_urls, stop_embedded
from hyperdash_pipeline.ingestion.cli import register as register_ingestion
from hyperdash_pipeline.migrate import MigrationError, migrate_all
from hyperdash_pipeline.ops.cli import register as register_ops
from hyperdash_pipeline.resources import DatabaseConnectionError
from hyperdash_pipeline.sample_data.cli import register as _register_sample_data
from hyperdash_pipeline.settings import hyperdash_home, redact
from hyperdash_pipeline.sync.cli import register as register_sync
from hyperdash_pipeline.webhook.cli import register as register_webhook

Handler = Callable[[argparse.Namespace], int]


def _migrate(args: argparse.Namespace) -> int:
    urls = export_database_urls()
    for report in migrate_all(urls.crm, urls.bi, existing_crm=args.existing_crm):
        applied = ", ".join(report.applied) or "nothing pending"
        print(f"{report.database}: applied {applied} ({report.already_applied} already applied)")
    return 0


def _stop(args: argparse.Namespace) -> int:
    home = hyperdash_home()
    if stop_embedded(home):
        print(f"stopped the embedded PostgreSQL under {home}")
    else:
        print(f"no embedded PostgreSQL runs under {home}")
    return 0


def _env(args: argparse.Namespace) -> int:
    urls = export_database_urls()
    for name, value in urls.as_environ().items():
        print(f"export {name}='{value}'")
    return 0


def _register_foundation(sub: argparse._SubParsersAction) -> None:
    migrate = sub.add_parser("migrate", help="apply pending SQL migrations to the CRM and BI databases")
    migrate.add_argument(
        "--existing-crm",
        action="store_true",
        help="the CRM already has its own leads table: only add the attribution columns (sql/crm_existing)",
    )
    migrate.set_defaults(handler=_migrate)
    sub.add_parser("stop", help="stop the embedded PostgreSQL server").set_defaults(handler=_stop)
    sub.add_parser("env", help="print the database URLs in use as shell exports").set_defaults(handler=_env)


REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _register_foundation,
    demo.register,
    _register_sample_data,
    register_sync,
    register_ingestion,
    register_webhook,
    register_attribution,
    register_ops,
    register_conversions,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyperdash", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (EmbeddedServerError, MigrationError, DatabaseConnectionError) as exc:
        print(f"hyperdash {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
