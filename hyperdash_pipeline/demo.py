"""`hyperdash demo`: the whole pipeline end to end on the embedded default, then a short summary."""

from __future__ import annotations

import argparse
import time

import psycopg
from dagster import AssetsDefinition, DagsterInstance, Definitions, materialize

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.embedded import DatabaseUrls, export_database_urls
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.settings import read_sql


def executable_assets(defs: Definitions) -> list[AssetsDefinition]:
    return [a for a in defs.assets or [] if isinstance(a, AssetsDefinition) and a.is_executable]


# The demo prints its own summary; Dagster's per-event DEBUG lines would bury it (the UI keeps them all).
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _materialize(assets: list[AssetsDefinition], keys: list, label: str, **kwargs: object) -> None:
    started = time.monotonic()
    print(f"materializing {len(keys)} asset(s): {label} ...", end="", flush=True)
    materialize(assets, selection=keys, run_config=QUIET_RUN_CONFIG, **kwargs)  # type: ignore[arg-type]
    print(f" done in {time.monotonic() - started:.1f}s")


def materialize_everything(defs: Definitions, instance: DagsterInstance) -> None:
    """Materialize every executable asset: partitioned ones for their latest partition, then the rest
    in one run (Dagster orders it by the dependency graph). Runs land in `instance`, so the UI shows them."""
    assets = executable_assets(defs)
    resources = defs.resources or {}
    partitioned = [a for a in assets if a.partitions_def is not None]
    for partitions_def in {a.partitions_def for a in partitioned}:
        keys = [k for a in partitioned if a.partitions_def == partitions_def for k in a.keys]
        latest = partitions_def.get_last_partition_key()  # type: ignore[union-attr]
        label = f"ad platform metrics for {latest}"
        _materialize(assets, keys, label, partition_key=latest, resources=resources, instance=instance)
    unpartitioned = [k for a in assets if a.partitions_def is None for k in a.keys]
    label = "CRM sync, attribution, correlation, insights, report"
    _materialize(assets, unpartitioned, label, resources=resources, instance=instance)


def _crm_is_empty(urls: DatabaseUrls) -> bool:
    with connect(urls.crm, "crm", "hyperdash-demo") as conn:
        return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM leads)").fetchone() == (True,)


def _seed(urls: DatabaseUrls, leads: int) -> None:
    from hyperdash_pipeline.sample_data import seed_sample_data

    if not _crm_is_empty(urls):
        print("sample data: the CRM already has leads; keeping them (hyperdash seed --reset starts over)")
        return
    summary = seed_sample_data(urls.crm, urls.bi, leads=leads)
    print(summary.describe())


def _table_count(conn: psycopg.Connection, qualified: str) -> int | None:
    if conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone() == (None,):
        return None
    row = conn.execute(f"SELECT count(*) FROM {qualified}").fetchone()  # qualified comes from our own list
    return int(row[0]) if row else 0


SUMMARY_TABLES = (
    "crm_raw.leads",
    "crm_raw.deals",
    "public.campaign_metrics",
    "public.lead_attribution",
    "analytics.attribution_credits",
    "analytics.markov_attribution",
    "analytics.campaign_lead_quality",
    "analytics.creative_performance",
    "public.ai_creative_insights",
)


def print_summary(urls: DatabaseUrls) -> None:
    with connect(urls.bi, "bi", "hyperdash-demo") as conn:
        print("\nBI tables:")
        for table in SUMMARY_TABLES:
            count = _table_count(conn, table)
            print(f"  {table:<34} {'(absent)' if count is None else f'{count:>10,} rows'}")
        if _table_count(conn, "analytics.campaign_lead_quality"):
            print("\nTop campaigns by real ROAS (CRM revenue / spend) against the platform's pixel ROAS:")
            widths = (8, 20, 8, 10, 8, 9, 11, 10)
            header = ("source", "campaign", "leads", "customers", "conv %", "CPL", "pixel ROAS", "real ROAS")
            print("  " + "".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
            for row in conn.execute(read_sql("transforms/report/top_campaigns.sql")):
                cells = ("" if v is None else str(v) for v in row)
                print("  " + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))


def _print_report_path() -> None:
    from hyperdash_pipeline.report.build import reports_dir

    reports = sorted(reports_dir().glob("*.html"), key=lambda p: p.stat().st_mtime)
    if reports:
        print(f"\nHTML report: {reports[-1]}")


NEXT_STEPS = """
Next:
  hyperdash dev      # the Dagster UI and daemon on the same databases (http://127.0.0.1:3000)
  hyperdash sync     # move what changed in the CRM since the last run
  hyperdash report   # the HTML correlation report
  hyperdash stop     # stop the embedded PostgreSQL
"""


def run_demo(leads: int) -> int:
    started = time.monotonic()
    urls = export_database_urls()
    where = "embedded PostgreSQL" if urls.embedded else "the databases in the environment"
    print(f"hyperdash demo on {where}")
    for report in migrate_all(urls.crm, urls.bi):
        print(f"migrate {report.database}: {len(report.applied)} applied, {report.already_applied} already applied")
    _seed(urls, leads)
    prepare_dagster_home()
    from hyperdash_pipeline.definitions import defs

    with DagsterInstance.get() as instance:
        materialize_everything(defs, instance)
    print_summary(urls)
    _print_report_path()
    print(f"\ndone in {time.monotonic() - started:.1f}s")
    print(NEXT_STEPS)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="migrate, seed sample data, materialize every asset, print a summary")
    demo.add_argument("--leads", type=int, default=20_000, help="sample leads to seed (default 20,000)")
    demo.set_defaults(handler=lambda args: run_demo(args.leads))


__all__ = ["register", "run_demo"]
