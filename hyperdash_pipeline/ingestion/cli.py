"""`hyperdash import-ads` (Meta / Google CSV exports) and `hyperdash import-fx` (exchange rates)."""

from __future__ import annotations

import argparse
import csv
import sys
import uuid
from datetime import date
from pathlib import Path

import psycopg

from hyperdash_pipeline.conventions import read_sql
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.ingestion.csv_import import CsvFormatError, parse_file
from hyperdash_pipeline.ingestion.load import load_rows, quarantine
from hyperdash_pipeline.resources import PostgresResource


class OrganizationNotFound(LookupError):
    pass


def resolve_organization(conn: psycopg.Connection, wanted: str | None) -> tuple[str, str]:
    """(id, slug) of the organization given by id or slug, or the only one when none is given."""
    if wanted:
        by = "id::text" if _is_uuid(wanted) else "slug"
        row = conn.execute(f"SELECT id, slug FROM organizations WHERE {by} = %s", (wanted,)).fetchone()
        if row is None:
            raise OrganizationNotFound(f"no organization with {'id' if by != 'slug' else 'slug'} {wanted!r} in BI")
        return str(row[0]), row[1]
    rows = conn.execute("SELECT id, slug FROM organizations ORDER BY slug LIMIT 11").fetchall()
    if len(rows) == 1:
        return str(rows[0][0]), rows[0][1]
    slugs = ", ".join(r[1] for r in rows[:10]) or "none"
    raise OrganizationNotFound(f"pass --organization ID_or_slug (organizations in BI: {slugs})")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _bi() -> PostgresResource:
    return PostgresResource(url=export_database_urls().bi, application_name="hyperdash-pipeline/import")


def _import_ads(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"hyperdash import-ads: {path} does not exist", file=sys.stderr)
        return 2
    try:
        parsed = parse_file(path, args.source, currency=args.currency, default_date=args.date)
    except CsvFormatError as exc:
        print(f"hyperdash import-ads: {exc}", file=sys.stderr)
        return 2
    with _bi().connection() as conn:
        try:
            org_id, slug = resolve_organization(conn, args.organization)
        except OrganizationNotFound as exc:
            print(f"hyperdash import-ads: {exc}", file=sys.stderr)
            return 2
        outcome = load_rows(conn, org_id, parsed.rows, loaded_via="csv")
        quarantined = quarantine(conn, f"import-ads:{args.source}", parsed.rejected)
    print(
        f"{path.name} ({parsed.format}, decimal separator '{parsed.decimal_separator}') -> organization {slug}: "
        f"{len(parsed.rows)} rows read, {outcome.upserted} new or changed in campaign_metrics, "
        f"{parsed.skipped_totals} total/summary rows skipped, {quarantined} quarantined "
        f"(BI quarantine, stage import-ads:{args.source})"
    )
    if parsed.assumed_date:
        print(f"{path.name} has no dates: every row was loaded on {parsed.assumed_date} (--date)")
    for rejected in parsed.rejected[:10]:
        print(f"  {rejected.source_ref}: {rejected.reason}")
    return 1 if quarantined and not parsed.rows else 0


def _import_fx(args: argparse.Namespace) -> int:
    """Rates as CSV with the header date,currency,rate_to_usd (USD per unit of currency)."""
    path = Path(args.file)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"date", "currency", "rate_to_usd"} - set(reader.fieldnames or [])
        if missing:
            print(f"hyperdash import-fx: {path} lacks columns {sorted(missing)}", file=sys.stderr)
            return 2
        rows = [
            {
                "date": r["date"],
                "currency": r["currency"].strip().upper(),
                "rate_to_usd": r["rate_to_usd"],
                "source": args.rate_source,
            }
            for r in reader
        ]
    with _bi().connection() as conn, conn.cursor() as cur:
        cur.executemany(read_sql("transforms/ingestion/upsert_fx_rates.sql"), rows)
    print(f"{path.name}: {len(rows)} exchange rates loaded into fx_rates")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    ads = sub.add_parser("import-ads", help="load a Meta Ads Manager or Google Ads CSV export into campaign_metrics")
    ads.add_argument("--source", required=True, choices=["meta", "google"])
    ads.add_argument("file", help="the CSV as downloaded (KAG_conversion_data.csv also accepted with --source meta)")
    ads.add_argument("--organization", help="organization id or slug (optional when BI has one organization)")
    ads.add_argument("--currency", help="ISO currency when the file states none (e.g. USD)")
    ads.add_argument(
        "--date", type=date.fromisoformat, help="day given to files without dates (KAG); default: today (UTC)"
    )
    ads.set_defaults(handler=_import_ads)
    fx = sub.add_parser("import-fx", help="load exchange rates (CSV: date,currency,rate_to_usd) into fx_rates")
    fx.add_argument("file")
    fx.add_argument("--rate-source", default="csv", help="where the rates come from (kept in fx_rates.source)")
    fx.set_defaults(handler=_import_fx)
