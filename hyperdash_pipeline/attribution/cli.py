"""`hyperdash attribute`: refresh lead_attribution, attribution_credits and markov_attribution from the shell."""

from __future__ import annotations

import argparse

from hyperdash_pipeline.attribution.models import MODELS
from hyperdash_pipeline.attribution.refresh import (
    CreditSettings,
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.resources import PostgresResource


def _attribute(args: argparse.Namespace) -> int:
    urls = export_database_urls()
    settings = CreditSettings(
        lookback_days=args.lookback_days,
        half_life_days=args.half_life_days,
        collapse=not args.no_collapse,
        models=tuple(args.models),
    )
    bi = PostgresResource(url=urls.bi, application_name="hyperdash-pipeline/attribute")
    with bi.connection() as conn:
        leads = refresh_lead_attribution(conn, full=args.full)
        print(
            f"lead_attribution: {leads.recomputed} recomputed, {leads.removed} removed, "
            f"{leads.quarantined} quarantined, {leads.row_count} rows (full={leads.full})"
        )
        credits = refresh_attribution_credits(conn, settings, full=args.full)
        print(f"attribution_credits: {credits.reason}, {credits.leads_recomputed} leads, {credits.row_count} rows")
        chains = refresh_markov_attribution(conn)
        print(f"markov_attribution: {len(chains.rows)} rows, {chains.customers} customers")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("attribute", help="refresh the attribution tables in BI (incremental unless --full)")
    parser.add_argument("--full", action="store_true", help="rebuild every lead instead of the changed ones")
    parser.add_argument("--lookback-days", type=int, default=30)
    parser.add_argument("--half-life-days", type=float, default=7.0)
    parser.add_argument("--no-collapse", action="store_true", help="keep consecutive repeats of a touch")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.set_defaults(handler=_attribute)
