"""`hyperdash sync [--full] [--table NAME]`: the crm_to_bi_sync job, run in-process on the real instance."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hyperdash_pipeline.conventions import CRM_TABLES, crm_raw_key
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.settings import PROJECT_ROOT, redact

if TYPE_CHECKING:  # Dagster loads in the handler only, so other commands start fast
    from dagster import AssetMaterialization, DagsterInstance


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sync", help="mirror the CRM tables into BI crm_raw now (incremental by default)")
    parser.add_argument("--full", action="store_true", help="re-copy the tables from scratch (TRUNCATE + COPY)")
    parser.add_argument(
        "--table",
        action="append",
        choices=CRM_TABLES,
        metavar="NAME",
        help=f"only this table (repeatable; one of {', '.join(CRM_TABLES)}); default: all",
    )
    parser.set_defaults(handler=_sync)


def _instance() -> DagsterInstance:
    """$DAGSTER_HOME's instance when set, else the project's dagster.yaml (runs stored via DAGSTER_PG_URL)."""
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    return DagsterInstance.from_config(str(PROJECT_ROOT))


def _sync(args: argparse.Namespace) -> int:
    export_database_urls()
    from hyperdash_pipeline.definitions import build_definitions
    from hyperdash_pipeline.sync.definitions import SYNC_JOB_NAME, SYNC_OP_NAME, SYNC_RUN_TAGS

    tables = args.table or list(CRM_TABLES)
    job = build_definitions().resolve_job_def(SYNC_JOB_NAME)
    with _instance() as instance:
        result = job.execute_in_process(
            run_config={"ops": {SYNC_OP_NAME: {"config": {"full_refresh": args.full}}}},
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
    _print_summary(result.asset_materializations_for_node(SYNC_OP_NAME))
    print(f"run {result.run_id}")
    return 0


def _print_summary(materializations: Sequence[AssetMaterialization]) -> None:
    print(f"{'table':<12}{'mode':<13}{'inserted':>10}{'updated':>10}{'deleted':>10}{'rows':>10}  watermark")
    for materialization in materializations:
        meta = {k: v.value for k, v in materialization.metadata.items()}
        watermark = meta.get("watermark")
        shown = datetime.fromtimestamp(watermark, tz=UTC).isoformat() if isinstance(watermark, float) else "-"
        print(
            f"{materialization.asset_key.path[-1]:<12}{meta['mode']:<13}{meta['rows_inserted']:>10}"
            f"{meta['rows_updated']:>10}{meta['rows_deleted']:>10}{meta['dagster/row_count']:>10}  {shown}"
        )
