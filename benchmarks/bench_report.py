"""Benchmark: the report's filters at scale: the facts query, the file's size, and a filter change in Chromium.

    .venv/bin/python benchmarks/bench_report.py [--leads 1000000] [--campaigns 2000] [--orgs 5]

Uses the server at HYPERDASH_TEST_PG_URL (an admin URL) or a throwaway embedded PostgreSQL; creates and drops
its own database. Generates in SQL `--leads` lead_attribution rows (created over the last 180 days, two touch
credits each, a tenth of them customers in analytics.lead_outcomes) and one ad per campaign with a
metrics row per day for 180 days, spread over `--orgs` organizations and three sources. Prints:

- the facts queries (sql/transforms/report/*_facts.sql: campaigns, creatives, models, cohorts, calls,
  conversions) beside their floor, one plain pass that reads the same rows once (lead_attribution joined to
  lead_outcomes, campaign_metrics, and two touch credits per lead joined to their lead), and the ratio;
- the whole `write_report` and the size of the file (its embedded JSON rows);
- with /usr/bin/chromium and playwright: the time the page's script takes to regroup and redraw after a filter
  change (largest slice: all organizations, all time), median of 9, beside a 100 ms budget for an interaction.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from psycopg import sql

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.embedded import database_url, start_embedded, stop_embedded
from hyperdash_pipeline.migrate import apply_migrations
from hyperdash_pipeline.report import slices
from hyperdash_pipeline.report.build import write_report
from hyperdash_pipeline.report.data import ReportParams
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import SQL_DIR, TEST_PG_URL_VAR, libpq_url, redact

APPLICATION = "hyperdash-bench-report"
DATABASE = f"hd_bench_report_{os.getpid()}"
CHROMIUM = Path("/usr/bin/chromium")
INTERACTION_BUDGET_MS = 100.0

GENERATE = """
INSERT INTO organizations (id, name, slug)
SELECT ('00000000-0000-0000-0000-' || lpad(o::text, 12, '0'))::uuid, 'Org ' || o, 'org-' || o
FROM generate_series(1, %(orgs)s) AS o;

INSERT INTO campaign_metrics (organization_id, source, campaign_id, ad_id, date, campaign_name, ad_name, spend,
                              impressions, clicks, conversions, conversion_value)
SELECT ('00000000-0000-0000-0000-' || lpad((1 + c %% %(orgs)s)::text, 12, '0'))::uuid,
       (ARRAY['meta', 'google'])[1 + c %% 2], 'c' || c, 'c' || c || '-ad', current_date - d,
       'Campaign number ' || c, 'Ad ' || c, 10 + (c * 7 + d) %% 90, 1000, 30, 2, 3 * (10 + (c * 7 + d) %% 90)
FROM generate_series(1, %(campaigns)s) AS c, generate_series(0, 179) AS d;

INSERT INTO lead_attribution (organization_id, lead_id, campaign_id, ad_id, source, conversion_date)
SELECT ('00000000-0000-0000-0000-' || lpad((1 + c %% %(orgs)s)::text, 12, '0'))::uuid, gen_random_uuid(),
       CASE WHEN i %% 10 = 0 THEN '(organic)' ELSE 'c' || c END,
       CASE WHEN i %% 10 = 0 THEN NULL ELSE 'c' || c || '-ad' END,
       CASE WHEN i %% 10 = 0 THEN 'organic' ELSE (ARRAY['meta', 'google'])[1 + c %% 2] END,
       (now() - make_interval(secs => (i::bigint * 7919) %% (180 * 86400)))::timestamp
FROM generate_series(1, %(leads)s) AS i, LATERAL (SELECT 1 + i %% %(campaigns)s AS c) AS k;

INSERT INTO analytics.attribution_touch_credits (organization_id, lead_id, touch_index, channel, campaign_id, ad_id,
    first_touch, last_touch, linear, position_based, time_decay, first_touch_revenue, last_touch_revenue,
    linear_revenue, position_based_revenue, time_decay_revenue)
SELECT la.organization_id, la.lead_id, t, 'paid_social', la.campaign_id, la.ad_id, 1 - t, t, 0.5, 0.5, 0.3 + 0.4 * t,
       0, 0, 0, 0, 0
FROM lead_attribution AS la, generate_series(0, 1) AS t;

INSERT INTO analytics.lead_outcomes (lead_id, won_deals, won_revenue, run_id)
SELECT lead_id, 1, 500 + (abs(hashtext(lead_id::text)) %% 5000), 1
FROM lead_attribution TABLESAMPLE BERNOULLI (10);

ANALYZE;
"""

FLOOR = """
SELECT (SELECT count(*) + sum(o.won_revenue)
         FROM lead_attribution la LEFT JOIN analytics.lead_outcomes o USING (lead_id))
     + (SELECT count(*) + sum(spend) FROM campaign_metrics)
     + (SELECT count(*) + sum(c.linear)
         FROM analytics.attribution_touch_credits c JOIN lead_attribution la USING (lead_id))
"""

CHANGE = """async () => {
  const period = document.getElementById("filter-period");
  period.value = period.value === "all" ? "90" : "all";
  const start = performance.now();
  period.dispatchEvent(new Event("change"));
  return performance.now() - start;
}"""


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _with_database(admin_url: str, database: str) -> str:
    return urlunsplit(urlsplit(libpq_url(admin_url))._replace(path=f"/{database}"))


def _browser_change_ms(path: Path) -> float | None:
    if not CHROMIUM.exists():
        print("no /usr/bin/chromium (run .ci/install-browser): filter change not measured")
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(path.as_uri())
            page.select_option("#filter-period", "all")
            times = [float(page.evaluate(CHANGE)) for _ in range(9)]
        finally:
            browser.close()
    return statistics.median(times[1::2])  # the changes to "all": the largest slice


def run(admin_url: str, leads: int, campaigns: int, orgs: int) -> None:
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    url = _with_database(admin_url, DATABASE)
    try:
        apply_migrations(url, SQL_DIR / "bi", "bi")
        # Generates --leads rows and --campaigns x 180 days in single INSERTs: not to be cut by BI's 30 min.
        with connect(url, "bi", APPLICATION, autocommit=True, statement_timeout_ms=0) as conn:
            print(f"generating {leads:,} leads, {campaigns:,} campaigns x 180 days in {redact(url)}", flush=True)
            params = {"leads": leads, "campaigns": campaigns, "orgs": orgs}
            elapsed = _timed(lambda: [conn.execute(q, params) for q in GENERATE.split(";\n\n") if q.strip()])
            print(f"  generated in {elapsed:.1f} s")
            conn.execute(FLOOR)  # warm the cache for both
            as_of = datetime.now(UTC).date()
            facts = [_timed(lambda: slices.load_slice_data(conn, None, as_of)) for _ in range(3)]
            floor = [_timed(lambda: conn.execute(FLOOR).fetchone()) for _ in range(3)]
            data = slices.load_slice_data(conn, None, as_of)
            rows = len(data.facts) + sum(len(section["rows"]) for section in data.sections.values())
        ours, base = min(facts), min(floor)
        print(f"facts query: {ours:.2f} s (best of 3) vs reading the same rows once {base:.2f} s = {ours / base:.2f}x")
        with tempfile.TemporaryDirectory(prefix="hd-bench-report-") as out:
            bi = PostgresResource(url=url, application_name=APPLICATION)
            start = time.perf_counter()
            result = write_report(bi, ReportParams(), Path(out))
            whole = time.perf_counter() - start
            size = result.path.stat().st_size
            print(f"write_report: {whole:.2f} s; file {size / 1e6:.2f} MB with {rows:,} fact rows embedded")
            change = _browser_change_ms(result.path)
            if change is not None:
                verdict = "within" if change <= INTERACTION_BUDGET_MS else "OVER"
                print(
                    f"filter change in Chromium (all organizations, all time): {change:.1f} ms median "
                    f"vs {INTERACTION_BUDGET_MS:.0f} ms budget ({verdict}; {change / INTERACTION_BUDGET_MS:.2f}x)"
                )
    finally:
        with connect(admin_url, "admin", APPLICATION, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=2_000)
    parser.add_argument("--orgs", type=int, default=5)
    args = parser.parse_args(argv)
    external = os.environ.get(TEST_PG_URL_VAR)
    if external:
        run(libpq_url(external), args.leads, args.campaigns, args.orgs)
        return 0
    with tempfile.TemporaryDirectory(prefix="hd-bench-") as home:
        socket_dir = start_embedded(Path(home))
        try:
            run(database_url(socket_dir, "postgres"), args.leads, args.campaigns, args.orgs)
        finally:
            stop_embedded(Path(home))
    return 0


if __name__ == "__main__":
    sys.exit(main())
