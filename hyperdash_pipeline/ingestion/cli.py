"""`hyperdash import-ads` (Meta / Google CSV exports) and `hyperdash import-fx` (exchange rates)."""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg

from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.ingestion.csv_import import CsvReport, ImportOptions, open_report
from hyperdash_pipeline.ingestion.csv_source import DEFAULT_MAX_BYTES, CsvFormatError
from hyperdash_pipeline.ingestion.fx import FxFormatError, parse_fx_file
from hyperdash_pipeline.ingestion.load import LoadOutcome, RejectedSpool, load_rows, quarantine
from hyperdash_pipeline.ingestion.rows import MetricRow, RejectedRow, canonical_account_id
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import read_sql


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
    options = ImportOptions(args.currency, args.date, args.decimal, args.max_size)
    try:
        report = open_report(path, args.source, options)
        with _bi().connection() as conn:
            org_id, slug = resolve_organization(conn, args.organization)
            outcome, spool = _load_report(conn, org_id, report)
    except (CsvFormatError, OrganizationNotFound) as exc:  # the transaction was rolled back: nothing loaded
        print(f"hyperdash import-ads: {exc}", file=sys.stderr)
        return 2
    except psycopg.errors.NumericValueOutOfRange:
        print(
            f"hyperdash import-ads: {path.name}: the rows of one ad and day add up to 10^12 or more, beyond what "
            "campaign_metrics holds; look for repeated rows in the file (nothing was loaded)",
            file=sys.stderr,
        )
        return 2
    print(
        f"{path.name} ({report.format}, decimal separator '{report.decimal_separator}' {report.decimal_origin}) "
        f"-> organization {slug}: {outcome.staged} rows read, {outcome.upserted} new or changed in campaign_metrics, "
        f"{report.skipped_totals} total/summary rows skipped, {spool.count} quarantined "
        f"(BI quarantine, stage import-ads:{args.source})"
    )
    if report.assumed_date:
        print(f"{path.name} has no dates: every row was loaded on {report.assumed_date} (--date)")
    for rejected in spool.first:
        print(f"  {rejected.source_ref}: {rejected.reason}")
    return 1 if spool.count and not outcome.staged else 0


def _load_report(conn: psycopg.Connection, org_id: str, report: CsvReport) -> tuple[LoadOutcome, RejectedSpool]:
    """Stream the good rows into campaign_metrics and the rejected ones into quarantine, in one transaction."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool_file:
        spool = RejectedSpool(spool_file)

        def good_rows() -> Iterator[MetricRow]:
            for item in report.rows():
                if isinstance(item, RejectedRow):
                    spool.add(item)
                else:
                    yield item

        outcome = load_rows(conn, org_id, good_rows(), loaded_via="csv")
        quarantine(conn, f"import-ads:{report.source}", spool.replay())
    return outcome, spool


def _import_fx(args: argparse.Namespace) -> int:
    """Rates into fx_rates (upsert by currency and day); unreadable lines are quarantined."""
    path = Path(args.file)
    try:
        parsed = parse_fx_file(path, args.rate_source)
    except (FxFormatError, OSError) as exc:
        print(f"hyperdash import-fx: {exc}", file=sys.stderr)
        return 2
    with _bi().connection() as conn:
        with conn.cursor() as cur:
            cur.executemany(read_sql("transforms/ingestion/upsert_fx_rates.sql"), parsed.rates)
        quarantined = quarantine(conn, "import-fx", parsed.rejected)
    print(
        f"{path.name} ({parsed.format}): {len(parsed.rates)} exchange rates loaded into fx_rates, "
        f"{quarantined} lines quarantined (BI quarantine, stage import-fx)"
    )
    for rejected in parsed.rejected[:10]:
        print(f"  {rejected.source_ref}: {rejected.reason}")
    return 1 if quarantined and not parsed.rates else 0


def _add_integration(args: argparse.Namespace) -> int:
    """Register (or update) which ad account of which provider belongs to an organization."""
    account = canonical_account_id(args.provider, args.account)
    with _bi().connection() as conn:
        try:
            org_id, slug = resolve_organization(conn, args.organization)
        except OrganizationNotFound as exc:
            print(f"hyperdash add-integration: {exc}", file=sys.stderr)
            return 2
        conn.execute(
            read_sql("transforms/ingestion/upsert_integration.sql"),
            {"organization_id": org_id, "provider": args.provider, "account_id": account, "env": args.credentials_env},
        )
    where = f"${args.credentials_env}" if args.credentials_env else "the provider's default variable"
    print(f"{args.provider} account {account} -> organization {slug}; token read from {where} at run time")
    return 0


def _env_var_name(value: str) -> str:
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
        # never echo the value: it may be a token pasted by mistake
        raise argparse.ArgumentTypeError(
            "takes the NAME of an environment variable (e.g. META_TOKEN_ACME), not a token"
        )
    return value


_SIZE = re.compile(r"\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*", re.I)
_UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def _byte_size(value: str) -> int:
    match = _SIZE.fullmatch(value)
    if match is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a size such as 512MiB, 2GiB or 1048576 (bytes)")
    return int(match[1]) * _UNITS[(match[2] or "b").lower()]


def register(sub: argparse._SubParsersAction) -> None:
    ads = sub.add_parser("import-ads", help="load a Meta Ads Manager or Google Ads CSV export into campaign_metrics")
    ads.add_argument("--source", required=True, choices=["meta", "google"])
    ads.add_argument("file", help="the CSV as downloaded (KAG_conversion_data.csv also accepted with --source meta)")
    ads.add_argument("--organization", help="organization id or slug (optional when BI has one organization)")
    ads.add_argument("--currency", help="ISO currency when the file states none (e.g. USD)")
    ads.add_argument(
        "--date", type=date.fromisoformat, help="day given to files without dates (KAG); default: today (UTC)"
    )
    ads.add_argument(
        "--decimal",
        choices=[",", "."],
        help="the file's decimal separator (1.234,56 -> ',', 1,234.56 -> '.'); default: what the values show",
    )
    ads.add_argument(
        "--max-size",
        type=_byte_size,
        default=DEFAULT_MAX_BYTES,
        help="refuse files larger than this (e.g. 2GiB, 300MiB); default 512MiB",
    )
    ads.set_defaults(handler=_import_ads)
    fx = sub.add_parser(
        "import-fx",
        help="load exchange rates into fx_rates: CSV date,currency,rate_to_usd, or the ECB's eurofxref-hist.csv",
    )
    fx.add_argument("file")
    fx.add_argument("--rate-source", default="csv", help="where the rates come from (kept in fx_rates.source)")
    fx.set_defaults(handler=_import_fx)
    add = sub.add_parser("add-integration", help="link a Meta or Google Ads account to an organization")
    add.add_argument("--organization", help="organization id or slug (optional when BI has one organization)")
    add.add_argument("--provider", required=True, choices=["meta", "google"])
    add.add_argument("--account", required=True, help="Meta act_<id> or Google customer id (123-456-7890)")
    add.add_argument(
        "--credentials-env",
        type=_env_var_name,
        help="environment variable holding this account's token (never the token itself)",
    )
    add.set_defaults(handler=_add_integration)
