"""One organization's attribution rebuilt in one BI transaction: its lead_attribution rows, outcomes and
quarantined touchpoints, its credits and paths, its campaign totals, Markov transitions, unmapped channel
labels and Markov attribution. A reader sees the organization as it was or rebuilt, never half of it, and no
other organization's row is written. What the Dagster job `rebuild_organization` runs per partition.

It reuses the part of the parallel full rebuild (attribution/parallel.py) for that organization's whole
lead-id range, with the credit settings the last `attribution_credits` refresh stored, so its rows equal what
a full rebuild would write for it. Its recomputed leads are logged (analytics.lead_attribution_changes) for
the correlation refresh. Refreshes of the whole tables wait for it (and it for them): it holds the tables'
advisory locks shared, so rebuilds of different organizations run side by side, and a lock of its own per
organization, so two rebuilds of one organization run one after the other.

A lead moved to another organization moves when its new organization is rebuilt (or at the next refresh):
rebuilding its old organization alone keeps its row there.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from hyperdash_pipeline.attribution.parallel import HIGHEST_UUID, LOWEST_UUID
from hyperdash_pipeline.attribution.refresh import (
    ATTRIBUTION_CREDITS,
    CREDITS_SQL,
    LEAD_ATTRIBUTION,
    LEAD_ATTRIBUTION_SQL,
    ORGANIZATION_SQL,
    CreditSettings,
    chains_of,
    insert_markov_rows,
    markov_rows,
    read_state,
)
from hyperdash_pipeline.transforms import Transform, load_transform, serialised, shared, snapshot_transaction

# The advisory lock keys of the whole-table refreshes (refresh.py's _lock_key), held shared here.
TABLE_LOCKS = tuple(f"hyperdash.attribution.{t}" for t in (LEAD_ATTRIBUTION, ATTRIBUTION_CREDITS, "markov_attribution"))


class OrganizationRebuildError(RuntimeError):
    """One organization cannot be rebuilt yet (bad key, or the whole-table refreshes never ran)."""


@dataclass(frozen=True)
class OrganizationStats:
    organization: str
    run_id: int
    leads: int  # live leads recomputed
    removed: int  # rows of deleted leads removed
    quarantined: int  # touchpoints quarantined
    touches: int  # credited touches written (a row each in attribution_touch_credits)
    markov_rows: int
    customers: int
    seconds: float  # from the locks taken to the commit


def organization_ids(conn: psycopg.Connection) -> list[str]:
    """Every organization in BI, as the `organizations` partition keys."""
    keys = [str(row[0]) for row in conn.execute(load_transform(ORGANIZATION_SQL).query("organization_ids"))]
    conn.rollback()
    return keys


def parse_organization(key: str) -> str:
    """The partition key as an organization id (canonical UUID text), or a clear error."""
    try:
        return str(uuid.UUID(key))
    except ValueError:
        raise OrganizationRebuildError(
            f"partition key {key!r} is not an organization id (a UUID from BI's organizations table): pick the "
            "partition from the `organizations` partitions the sensor keeps"
        ) from None


def credit_settings(state: dict[str, Any] | None) -> CreditSettings:
    """The settings the last attribution_credits refresh used, so this organization's credits match the rest."""
    if state is None or not state.get("config"):
        raise OrganizationRebuildError(
            "attribution_credits has never been refreshed, so there are no credit settings to rebuild one "
            "organization with: materialize lead_attribution and attribution_credits first (or run "
            "`hyperdash attribute --full`)"
        )
    config = state["config"]
    return CreditSettings(
        lookback_days=int(config["lookback_days"]),
        half_life_days=float(config["half_life_days"]),
        collapse=bool(config["collapse"]),
        models=tuple(config["models"]),
    )


@contextmanager
def _locked(conn: psycopg.Connection, organization: str) -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(serialised(conn, f"hyperdash.attribution.organization.{organization}"))
        for key in TABLE_LOCKS:
            stack.enter_context(shared(conn, key))
        yield


def _record_row_changes(conn: psycopg.Connection, queries: Transform, changes: dict[str, int]) -> None:
    """This rebuild's change to each table's row count, for the kept counts (attribution_state, migration 1912):
    appended, never updated in place, because rebuilds of other organizations run at the same time."""
    for name, delta in changes.items():
        if delta:
            conn.execute(queries.query("record_row_change"), {"name": name, "delta": delta})


def rebuild_organization(conn: psycopg.Connection, key: str) -> OrganizationStats:
    """Rebuild the organization `key` (its id) in one transaction on `conn` (autocommit off, none open)."""
    organization = parse_organization(key)
    leads_sql = load_transform(LEAD_ATTRIBUTION_SQL)
    credits_sql = load_transform(CREDITS_SQL)
    queries = load_transform(ORGANIZATION_SQL)
    with _locked(conn, organization):
        start = time.perf_counter()
        with snapshot_transaction(conn):
            if read_state(conn, LEAD_ATTRIBUTION) is None:
                raise OrganizationRebuildError(
                    "lead_attribution has never been refreshed: materialize it (or run `hyperdash attribute "
                    "--full`) before rebuilding one organization"
                )
            settings = credit_settings(read_state(conn, ATTRIBUTION_CREDITS))
            run_row = conn.execute("SELECT nextval('analytics.attribution_run_id_seq')").fetchone()
            assert run_row is not None
            params: dict[str, Any] = {
                "organization": organization,
                "organizations": [organization],
                "low": str(LOWEST_UUID),
                "high": str(HIGHEST_UUID),
                "run_id": int(run_row[0]),
                "lookback": timedelta(days=settings.lookback_days),
                "half_life_days": float(settings.half_life_days),
                "collapse": settings.collapse,
                "models": list(settings.models),
            }
            prepared = leads_sql.run(conn, "organization_prepare", params)
            leads = leads_sql.run(conn, "organization_part", params)
            leads_sql.run(conn, "organization_log", params)
            credits = credits_sql.run(conn, "part", params)
            touches = credits["insert"]
            _record_row_changes(
                conn,
                queries,
                {
                    LEAD_ATTRIBUTION: leads["added"] - leads["delete_gone_leads"],
                    ATTRIBUTION_CREDITS: (touches - credits["delete_credits"] - credits["delete_gone_credits"])
                    * len(settings.models),
                },
            )
            credits_sql.run(conn, "organization_finish", params)
            chains = chains_of(conn.execute(queries.query("markov_transitions"), params))
            totals = {
                str(org): (int(customers), float(revenue))
                for org, customers, revenue in conn.execute(queries.query("markov_totals"), params)
            }
            rows = markov_rows(chains, totals)
            conn.execute(queries.query("markov_delete"), params)
            insert_markov_rows(conn, rows)
        seconds = time.perf_counter() - start
    return OrganizationStats(
        organization=organization,
        run_id=params["run_id"],
        leads=leads["upsert"],
        removed=prepared["organization_gone"],
        quarantined=leads["quarantine_insert"],
        touches=touches,
        markov_rows=len(rows),
        customers=sum(c for c, _ in totals.values()),
        seconds=seconds,
    )
