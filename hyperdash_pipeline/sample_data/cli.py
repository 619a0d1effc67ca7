"""`hyperdash seed`: fill the CRM and BI databases with reproducible sample data."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from hyperdash_pipeline.console import Progress, add_json_flag, print_json
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.sample_data.seed import SampleDataError, seed_sample_data


def _seed(args: argparse.Namespace) -> int:
    urls = export_database_urls()
    try:
        summary = seed_sample_data(
            urls.crm,
            urls.bi,
            leads=args.leads,
            seed=args.seed,
            organizations=args.organizations,
            days=args.days,
            today=args.today,
            reset=args.reset,
            workers=args.workers,
            on_progress=Progress("seed: leads generated", total=args.leads, unit="leads").update,
        )
    except SampleDataError as exc:
        print(f"hyperdash seed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json(summary)
    else:
        print(summary.describe())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "seed",
        help="fill the CRM and BI databases with reproducible sample data (leads, deals, ad metrics)",
        description="Generate realistic sample data inside PostgreSQL. The same --seed gives the same rows.",
    )
    parser.add_argument("--leads", type=int, default=20_000, help="number of CRM leads (default 20000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives identical data")
    parser.add_argument("--organizations", type=int, default=3, help="number of organizations (default 3)")
    parser.add_argument("--days", type=int, default=120, help="days of history before today (default 120)")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="end the window on this date (YYYY-MM-DD, default today in UTC), for identical data on any day",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="CRM sessions generating in parallel (default: one per CPU, at most one per 20000 leads); "
        "the rows do not depend on it",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="empty the CRM tables and every BI data table first (migrations are kept)",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_seed)
