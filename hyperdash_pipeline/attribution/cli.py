"""`hyperdash attribute`: refresh lead_attribution, attribution_credits and markov_attribution from the shell.

Plain Python on one BI connection: the command never imports Dagster (about 0.5-1 s of every run's start).
"""

from __future__ import annotations

import argparse

from hyperdash_pipeline.attribution.models import MODELS
from hyperdash_pipeline.attribution.parallel import default_parallelism
from hyperdash_pipeline.attribution.refresh import (
    CreditSettings,
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.console import Progress, add_json_flag, print_json
from hyperdash_pipeline.embedded import export_database_urls


def _attribute(args: argparse.Namespace) -> int:
    urls = export_database_urls()
    settings = CreditSettings(
        lookback_days=args.lookback_days,
        half_life_days=args.half_life_days,
        collapse=not args.no_collapse,
        models=tuple(args.models),
    )
    progress = Progress("attribute", total=3, unit="steps")  # stderr: --json output on stdout stays clean
    with connect(urls.bi, "bi", "hyperdash-pipeline/attribute") as conn:  # commits on success, then closes
        parallelism = args.parallelism or default_parallelism(conn)
        leads = refresh_lead_attribution(conn, full=args.full, parallelism=parallelism)
        progress.update(1)
        credits = refresh_attribution_credits(conn, settings, full=args.full, parallelism=parallelism)
        progress.update(2)
        chains = refresh_markov_attribution(conn)
        progress.update(3)
    summary = {
        "lead_attribution": {
            "recomputed": leads.recomputed,
            "removed": leads.removed,
            "quarantined": leads.quarantined,
            "rows": leads.row_count,
            "full": leads.full,
            "parallelism": parallelism if leads.full else 1,
        },
        "attribution_credits": {
            "reason": credits.reason,
            "leads_recomputed": credits.leads_recomputed,
            "rows": credits.row_count,
        },
        "markov_attribution": {"rows": len(chains.rows), "customers": chains.customers},
    }
    if args.json:
        print_json(summary)
        return 0
    print(
        f"lead_attribution: {leads.recomputed} recomputed, {leads.removed} removed, "
        f"{leads.quarantined} quarantined, {leads.row_count} rows (full={leads.full})"
    )
    print(f"attribution_credits: {credits.reason}, {credits.leads_recomputed} leads, {credits.row_count} rows")
    print(f"markov_attribution: {len(chains.rows)} rows, {chains.customers} customers")
    return 0


def _sessions(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--parallelism takes a whole number of sessions >= 1, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("attribute", help="refresh the attribution tables in BI (incremental unless --full)")
    parser.add_argument("--full", action="store_true", help="rebuild every lead instead of the changed ones")
    parser.add_argument(
        "--parallelism",
        type=_sessions,
        metavar="N",
        help="BI sessions a full rebuild is split across, by ranges of lead ids written into stage tables and "
        "attached as the partitions of their ranges (default: "
        "the BI server's max_parallel_workers, at most 4 and this machine's cores)",
    )
    parser.add_argument("--lookback-days", type=int, default=30)
    parser.add_argument("--half-life-days", type=float, default=7.0)
    parser.add_argument("--no-collapse", action="store_true", help="keep consecutive repeats of a touch")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    add_json_flag(parser)
    parser.set_defaults(handler=_attribute)
