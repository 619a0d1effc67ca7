"""Loading ad metrics into campaign_metrics: COPY into a stage + one set-based merge (what the
ingestion does) against the obvious baseline, one INSERT ... ON CONFLICT per row (executemany).

    .venv/bin/python benchmarks/bench_ad_metrics_load.py [--rows 20000]

Uses HYPERDASH_TEST_PG_URL when set, else a throwaway embedded PostgreSQL. Both methods load the same
rows into fresh, migrated BI databases on the same server, twice each (first load = inserts, second =
restatement of the same rows); the best of each is reported with the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from psycopg import sql

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.embedded import database_url, start_embedded, stop_embedded
from hyperdash_pipeline.ingestion.load import ReplaceScope, load_rows
from hyperdash_pipeline.ingestion.rows import STAGE_COLUMNS, MetricRow
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.settings import TEST_PG_URL_VAR, libpq_url

APPLICATION = "hyperdash-bench-ad-metrics-load"
BASELINE = sql.SQL(
    "INSERT INTO campaign_metrics ({cols}, loaded_via) VALUES ({vals}, 'api') "
    "ON CONFLICT ON CONSTRAINT campaign_metrics_grain DO UPDATE SET spend = excluded.spend, "
    "impressions = excluded.impressions, clicks = excluded.clicks, conversions = excluded.conversions"
).format(
    cols=sql.SQL(", ").join(sql.Identifier(c) for c in STAGE_COLUMNS),
    vals=sql.SQL(", ").join(sql.Placeholder() for _ in STAGE_COLUMNS),
)


def _rows(n: int) -> list[MetricRow]:
    start = date(2024, 3, 1)
    return [
        MetricRow(
            source="meta",
            account_id="111",
            campaign_id=f"c{i % 40}",
            ad_set_id=f"s{i % 200}",
            ad_id=f"a{i % 1000}",
            date=start + timedelta(days=i // 1000),
            currency="BRL",
            spend=Decimal(i % 997) / 7,
            impressions=1000 + i,
            clicks=i % 50,
            conversions=Decimal(i % 5),
        )
        for i in range(n)
    ]


def _fresh_bi(admin_url: str) -> str:
    name = f"bench_ads_{uuid.uuid4().hex[:8]}"
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = (
        admin_url.rsplit("/", 1)[0] + f"/{name}"
        if "?" not in admin_url
        else admin_url.replace("/postgres?", f"/{name}?")
    )
    crm = f"{name}_crm"
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(crm)))
    migrate_all(url.replace(name, crm), url)
    with connect(url, "bi", APPLICATION) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, slug) VALUES ('00000000-0000-0000-0000-000000000001', 'B', 'b')"
        )
    return url


def _time_copy_merge(url: str, rows: list[MetricRow]) -> float:
    scope = ReplaceScope("meta", "111", min(r.date for r in rows), max(r.date for r in rows))
    began = time.perf_counter()
    with connect(url, "bi", APPLICATION) as conn:
        load_rows(conn, "00000000-0000-0000-0000-000000000001", rows, loaded_via="api", replace=scope)
    return time.perf_counter() - began


def _time_row_by_row(url: str, rows: list[MetricRow]) -> float:
    began = time.perf_counter()
    with connect(url, "bi", APPLICATION) as conn, conn.cursor() as cur:
        cur.executemany(BASELINE, [r.stage_tuple("00000000-0000-0000-0000-000000000001") for r in rows])
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    home = None
    admin = os.environ.get(TEST_PG_URL_VAR)
    if admin:
        admin = libpq_url(admin)
    else:
        home = Path(tempfile.mkdtemp(prefix="hd-bench-ads-"))
        admin = database_url(start_embedded(home), "postgres")
    try:
        rows = _rows(args.rows)
        merge_url, baseline_url = _fresh_bi(admin), _fresh_bi(admin)
        merge = [_time_copy_merge(merge_url, rows) for _ in range(2)]
        baseline = [_time_row_by_row(baseline_url, rows) for _ in range(2)]
        print(f"{args.rows} rows: COPY + merge best {min(merge):.2f}s (runs {merge[0]:.2f}s, {merge[1]:.2f}s)")
        runs = f"runs {baseline[0]:.2f}s, {baseline[1]:.2f}s"
        print(f"{args.rows} rows: row-by-row upsert best {min(baseline):.2f}s ({runs})")
        print(f"ratio (row-by-row / COPY + merge): {min(baseline) / min(merge):.1f}x")
    finally:
        if home is not None:
            stop_embedded(home)


if __name__ == "__main__":
    main()
