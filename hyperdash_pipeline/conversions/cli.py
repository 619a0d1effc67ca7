"""`hyperdash send-conversions [--dry-run] [--platform meta|google] [--json]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from hyperdash_pipeline.console import add_json_flag, print_json
from hyperdash_pipeline.conversions.outbox import build_outbox
from hyperdash_pipeline.conversions.sender import PLATFORMS, SendReport, conversions_resource, send_platform
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import BI_URL_VAR


def _send(args: argparse.Namespace) -> int:
    bi_url = os.environ.get(BI_URL_VAR) or export_database_urls().bi  # only BI is needed
    bi = PostgresResource(url=bi_url, application_name="hyperdash-pipeline/conversions")
    settings = conversions_resource(dict(os.environ))
    with bi.connection() as conn:  # the outbox is BI bookkeeping: the dry run refreshes it too
        build_outbox(conn, settings.qualified_statuses, settings.default_phone_country_code)
    platforms = [args.platform] if args.platform else list(PLATFORMS)
    reports = [send_platform(bi, settings, p, dry_run=args.dry_run) for p in platforms]
    if args.dry_run:
        _print_dry_run(reports, args.json)
    elif args.json:
        print_json([_summary(r) for r in reports])
    else:
        for r in reports:
            _print_summary(r)
    return 1 if any(r.failed for r in reports) and not args.dry_run else 0


def _summary(report: SendReport) -> dict[str, object]:
    return {
        "platform": report.platform,
        **report.counts,
        "http_calls": report.http_calls,
        "retries": report.retries,
        "unconfigured": [{"integration": i, "reason": r} for i, r in report.unconfigured],
        "failed": [{"integration": i, "reason": r} for i, r in report.failed],
    }


def _print_summary(report: SendReport) -> None:
    c = report.counts
    print(
        f"{report.platform}: {c['sent']} sent, {c['rejected']} rejected, {c['expired']} expired, "
        f"{c['skipped_consent']} skipped for consent ({report.http_calls} HTTP calls, {report.retries} retries)"
    )
    for label, reason in report.unconfigured:
        print(f"  {label}: unconfigured, events stay pending ({reason})")
    for label, reason in report.failed:
        print(f"  {label}: not delivered, events stay pending ({reason})", file=sys.stderr)


def _print_dry_run(reports: list[SendReport], as_json: bool) -> None:
    """Every request exactly as it would leave (identifiers hashed, no token): one JSON document per
    request and line with --json, else indented with a header per request."""
    for report in reports:
        for request in report.requests:
            document = {
                "platform": request.platform,
                "destination": request.destination,
                "method": "POST",
                "url": request.url,
                "body": request.body,
            }
            if as_json:
                print(json.dumps(document, separators=(",", ":")))
            else:
                print(
                    f"# {request.platform} {request.destination}: POST {request.url} ({_events(request.body)} events)"
                )
                print(json.dumps(request.body, indent=2))
        if not as_json:
            c = report.counts
            events = sum(_events(r.body) for r in report.requests)
            print(
                f"# {report.platform}: would send {events} events; {c['expired']} would be marked expired, "
                f"{c['skipped_consent']} skipped for consent; nothing was sent"
            )
            for label, reason in report.unconfigured:
                print(f"# {label}: unconfigured ({reason})")
            for label, reason in report.failed:
                print(f"# {label}: cannot send ({reason})")


def _events(body: dict[str, Any]) -> int:
    return len(body.get("data") or body.get("conversions") or [])


def register(sub: argparse._SubParsersAction) -> None:
    send = sub.add_parser(
        "send-conversions",
        help="send pending CRM conversions (lead, qualified, purchase) to Meta and Google Ads",
    )
    send.add_argument("--dry-run", action="store_true", help="print the exact requests (hashed) and send nothing")
    send.add_argument("--platform", choices=list(PLATFORMS), help="only this platform")
    add_json_flag(send)
    send.set_defaults(handler=_send)
