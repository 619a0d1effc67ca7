"""`hyperdash report`: write the correlation report now and print its path."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import date

from hyperdash_pipeline.console import add_json_flag, print_json
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.report.build import write_report
from hyperdash_pipeline.report.data import ReportParams
from hyperdash_pipeline.resources import PostgresResource


def _valid_organization(value: str | None) -> bool:
    if value is None:
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def report(args: argparse.Namespace) -> int:
    if not _valid_organization(args.organization):
        print(
            f"hyperdash report: --organization must be an organization id (a UUID), got {args.organization!r}",
            file=sys.stderr,
        )
        return 2
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        print(f"hyperdash report: --as-of must be a date like 2026-12-05, got {args.as_of!r}", file=sys.stderr)
        return 2
    urls = export_database_urls()
    bi = PostgresResource(url=urls.bi, application_name="hyperdash-report")
    result = write_report(bi, ReportParams(organization_id=args.organization, as_of=as_of))
    if args.json:
        print_json(
            {
                "path": result.path,
                "charts_drawn": result.charts_drawn,
                "findings": result.findings,
                "notes": {fig.key: fig.note for fig in result.figures if fig.note},
            }
        )
    else:
        for fig in result.figures:
            if fig.note:
                print(f"{fig.title}: {fig.note}", file=sys.stderr)
        print(result.path)
    return 0


def register_report(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("report", help="write the HTML correlation report under HYPERDASH_HOME/reports")
    cmd.add_argument("--organization", metavar="UUID", help="only this organization (default: all)")
    cmd.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="the day the period filters count back from (default: today, UTC)",
    )
    add_json_flag(cmd)
    cmd.set_defaults(handler=report)
