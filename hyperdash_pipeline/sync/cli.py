"""`hyperdash sync [--full] [--table NAME]`: the crm_to_bi_sync job, run in-process on the real instance.

A run costs about a second of Dagster before any row moves (imports, the instance, its event writes), so
the command first asks the CRM, as the sensor does, whether anything is pending: when BI is caught up it
says so and launches no run, without loading Dagster at all. `--always` runs the job anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hyperdash_pipeline.console import add_json_flag, print_json
from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.settings import redact
from hyperdash_pipeline.sync.engine import SYNCED_TABLES, check_endpoints
from hyperdash_pipeline.sync.markers import pending_work
from hyperdash_pipeline.sync.progress import CopyProgress, estimated_rows

if TYPE_CHECKING:  # Dagster loads only when a run is launched, so a caught-up check starts fast
    from dagster import AssetMaterialization, DagsterInstance, JobDefinition

# Held storage connections for the run's ~50 event writes instead of a new connection per query
# (dagster-postgres defaults to NullPool): dagster-webserver's pool, without its statement timeout.
_STORAGE_POOL = {"statement_timeout": 0, "pool_recycle": 3600, "max_overflow": 4}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sync", help="mirror the CRM tables into BI crm_raw now (incremental by default)")
    parser.add_argument("--full", action="store_true", help="re-copy the tables from scratch (TRUNCATE + COPY)")
    parser.add_argument(
        "--table",
        action="append",
        choices=SYNCED_TABLES,
        metavar="NAME",
        help=f"only this table (repeatable; one of {', '.join(SYNCED_TABLES)}); default: all",
    )
    parser.add_argument(
        "--always",
        action="store_true",
        help="launch the run even when BI is caught up (by default a caught-up sync launches no run)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_json_flag(parser)
    parser.set_defaults(handler=_sync)
    check = sub.add_parser("reconcile", help="compare BI's crm_raw with the CRM by id range and repair what differs")
    check.add_argument("--no-repair", action="store_true", help="only report the differing id ranges")
    check.add_argument("--table", action="append", choices=SYNCED_TABLES, metavar="NAME", help="only this table")
    check.set_defaults(handler=_reconcile)


def _reconcile(args: argparse.Namespace) -> int:
    from hyperdash_pipeline.sync.reconcile import reconcile

    urls = export_database_urls()
    check_endpoints(urls.crm, urls.bi)
    report = reconcile(urls.crm, urls.bi, args.table, repair=not args.no_repair)
    print(report.summary())
    return 1 if args.no_repair and not all(t.matched for t in report.tables.values()) else 0


def _sync(args: argparse.Namespace) -> int:
    urls = export_database_urls()
    tables = args.table or list(SYNCED_TABLES)
    check_endpoints(urls.crm, urls.bi)  # before the caught-up check, which a pooled endpoint would pass
    if not (args.full or args.always) and not pending_work(urls.crm, urls.bi, tables):
        return _report_caught_up(tables, as_json=args.json)
    from dagster import DagsterInstance

    from hyperdash_pipeline.conventions import crm_raw_key
    from hyperdash_pipeline.defs.crm_sync.mirror import SYNC_OP_NAME, SYNC_RUN_TAGS

    job = _sync_job()
    prepare_dagster_home()
    total = estimated_rows(urls.crm, tables) if args.full else None
    with DagsterInstance.get() as instance, _progress(urls.bi, total, quiet=args.quiet or args.json):
        _hold_storage_connections(instance)
        result = job.execute_in_process(
            run_config={
                "ops": {SYNC_OP_NAME: {"config": {"full_refresh": args.full}}},
                # The table below is the output; Dagster's console shows warnings (a held horizon) only.
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            },
            instance=instance,
            asset_selection=[crm_raw_key(t) for t in tables],
            tags=SYNC_RUN_TAGS,
            raise_on_error=False,
        )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_failure), None)
        reason = failure.message if failure else "see the run in the Dagster UI"
        print(f"hyperdash sync: failed (run {result.run_id}): {redact(reason or '')}", file=sys.stderr)
        return 1
    rows = _summary_rows(result.asset_materializations_for_node(SYNC_OP_NAME))
    if args.json:
        print_json({"run_id": result.run_id, "tables": rows})
        return 0
    _print_summary(rows)
    print(f"run {result.run_id}")
    return 0


def _report_caught_up(tables: Sequence[str], *, as_json: bool) -> int:
    if as_json:
        print_json({"run_id": None, "caught_up": True, "tables": list(tables)})
        return 0
    print(
        f"BI crm_raw is caught up with the CRM ({', '.join(tables)}): no changed rows, deletes or receipts "
        "since the last sync, so no run was launched (`hyperdash sync --always` runs it anyway)"
    )
    return 0


def _sync_job() -> JobDefinition:
    """The sync job with its resources, without loading the other concerns' Definitions."""
    from dagster import Definitions

    from hyperdash_pipeline.defs.crm_sync.mirror import SYNC_JOB_NAME
    from hyperdash_pipeline.defs.crm_sync.mirror import defs as mirror
    from hyperdash_pipeline.defs.resources import defs as databases

    return Definitions.merge(databases, mirror).resolve_job_def(SYNC_JOB_NAME)


def _hold_storage_connections(instance: DagsterInstance) -> None:
    instance.optimize_for_webserver(**_STORAGE_POOL)


def _progress(bi_url: str, total: int | None, *, quiet: bool) -> AbstractContextManager[object]:
    return contextlib.nullcontext() if quiet else CopyProgress(bi_url, total)


def _summary_rows(materializations: Sequence[AssetMaterialization]) -> list[dict[str, Any]]:
    rows = []
    for materialization in materializations:
        meta = {k: v.value for k, v in materialization.metadata.items()}
        watermark = meta.get("watermark")
        rows.append(
            {
                "table": materialization.asset_key.path[-1],
                "mode": meta["mode"],
                "inserted": meta["rows_inserted"],
                "updated": meta["rows_updated"],
                "deleted": meta["rows_deleted"],
                "rows": meta["dagster/row_count"],
                "watermark": datetime.fromtimestamp(watermark, tz=UTC) if isinstance(watermark, float) else None,
            }
        )
    return rows


def _print_summary(rows: list[dict[str, Any]]) -> None:
    print(f"{'table':<12}{'mode':<13}{'inserted':>10}{'updated':>10}{'deleted':>10}{'rows':>10}  watermark")
    for row in rows:
        shown = row["watermark"].isoformat() if row["watermark"] else "-"
        print(
            f"{row['table']:<12}{row['mode']:<13}{row['inserted']:>10}"
            f"{row['updated']:>10}{row['deleted']:>10}{row['rows']:>10}  {shown}"
        )
