"""Benchmark: full rebuild of the correlation tables on a year of synthetic data.

    .venv/bin/python benchmarks/bench_correlation.py            # 1M leads, 100k deals, 2000 x 365 metrics, 3M credits
    .venv/bin/python benchmarks/bench_correlation.py --scale 0.1

Runs against a scratch database on the embedded PostgreSQL (or on the server of $BI_DATABASE_URL), migrated
like BI, filled by SQL inside the server, dropped at the end. Prints, side by side in one run:
- floor: a bare aggregate scan of every input table (what any rebuild must at least read);
- per-table staging: each of the three lead-quality tables staged from raw inputs on its own (what three
  independent assets would cost);
- ours: the `correlation_tables` and `campaign_attributed_revenue` assets through dagster.materialize,
  then their asset checks;
and the ratios between them. Budget: every analytics table (attribution's included) rebuilt in <= 60 s.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from dagster import AssetSelection, materialize
from psycopg import sql

from hyperdash_pipeline.correlation.assets import campaign_attributed_revenue, correlation_tables
from hyperdash_pipeline.correlation.build import (
    AD_METRICS,
    BASE,
    GRAIN_CREATIVE,
    GRAIN_WEEK,
    LEAD_COHORTS,
    rebuild_metrics_table,
    stage_inputs,
)
from hyperdash_pipeline.correlation.checks import correlation_checks
from hyperdash_pipeline.embedded import database_url, start_embedded
from hyperdash_pipeline.migrate import apply_migrations
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import BI_URL_VAR, SQL_DIR, libpq_url, redact

DATA_SQL = Path(__file__).parent / "sql" / "correlation_data.sql"
INPUT_SCAN = [
    "SELECT count(*), sum(spend) FROM public.campaign_metrics",
    "SELECT count(*) FROM public.lead_attribution AS la JOIN crm_raw.leads AS l ON l.id = la.lead_id",
    "SELECT count(*), sum(amount) FROM crm_raw.deals",
    "SELECT count(*), sum(credit) FROM analytics.attribution_credits",
]
METRIC_TABLES = [
    ("campaign_lead_quality", ["organization_id", "source", "campaign_id"], GRAIN_CREATIVE),
    ("creative_performance", ["organization_id", "source", "campaign_id", "ad_id"], GRAIN_CREATIVE),
    ("campaign_weekly", ["organization_id", "source", "campaign_id", "week_start"], GRAIN_WEEK),
]


def admin_url() -> str:
    configured = os.environ.get(BI_URL_VAR)
    return libpq_url(configured) if configured else database_url(start_embedded(), "postgres")


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def scratch_database(admin: str) -> Iterator[str]:
    name = f"hyperdash_bench_correlation_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def generate(url: str, scale: float) -> dict[str, int]:
    params = {
        "orgs": 5,
        "campaigns": max(10, int(2000 * scale)),
        "days": 365,
        "leads": int(1_000_000 * scale),
        "deals": int(100_000 * scale),
        "credit_leads": int(300_000 * scale),
    }
    with psycopg.connect(url) as conn:
        for statement in DATA_SQL.read_text().split(";\n\n"):
            if statement.strip():
                conn.execute(statement, params)  # type: ignore[arg-type]
    return params


def scan_inputs(url: str) -> None:
    with psycopg.connect(url) as conn:
        for query in INPUT_SCAN:
            conn.execute(query).fetchall()  # type: ignore[arg-type]


def per_table_staging(url: str) -> None:
    """Each table staged from the raw inputs on its own, rolled back (the design we did not choose)."""
    with psycopg.connect(url) as conn:
        for table, keys, grain in METRIC_TABLES:
            stage_inputs(conn, [LEAD_COHORTS, AD_METRICS, BASE])
            rebuild_metrics_table(conn, table, keys, grain)
            conn.rollback()


def run_assets(bi: PostgresResource, selection: AssetSelection | None = None) -> None:
    assets = [correlation_tables, campaign_attributed_revenue, *correlation_checks()]
    result = materialize(assets, selection=selection, resources={"bi": bi}, raise_on_error=False)
    if not result.success:
        raise SystemExit("the correlation run failed; see the Dagster log above")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full data volume (default 1.0)")
    args = parser.parse_args()
    admin = admin_url()
    with scratch_database(admin) as url:
        print(f"scratch database: {redact(url)}")
        apply_migrations(url, SQL_DIR / "bi", "bi")
        started = time.perf_counter()
        params = generate(url, args.scale)
        generate_s = time.perf_counter() - started
        print(f"generated {params} in {generate_s:.1f}s")
        bi = PostgresResource(url=url, application_name="hyperdash-bench/correlation")
        floor_s = timed(lambda: scan_inputs(url))
        naive_s = timed(lambda: per_table_staging(url))
        only_assets = AssetSelection.assets(correlation_tables, campaign_attributed_revenue).without_checks()
        assets_s = timed(lambda: run_assets(bi, only_assets))
        checks_s = timed(lambda: run_assets(bi, AssetSelection.all_asset_checks()))
        print(f"floor (bare scan of the inputs):        {floor_s:7.2f} s")
        print(f"per-table staging (3 lead tables only): {naive_s:7.2f} s")
        print(f"ours, all 4 tables + insights (Dagster):{assets_s:7.2f} s")
        print(f"ours, the 11 asset checks:              {checks_s:7.2f} s")
        print(f"ratio ours / floor:                     {assets_s / floor_s:7.2f}x")
        print(f"ratio per-table staging / ours:         {naive_s / assets_s:7.2f}x")
        print(f"budget 60 s for all analytics tables:   {'within' if assets_s + checks_s <= 60 else 'OVER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
