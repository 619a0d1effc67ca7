"""The row counts the attribution refreshes keep (attribution_state.lead_rows and credit_rows: the assets'
dagster/row_count, read without a count(*) of the table) equal count(*) after any sequence of mirror changes,
incremental refreshes, full and parallel rebuilds and rebuilds of one organization, whose changes reach the
kept counts through analytics.attribution_row_changes (migration 1912); and the per-organization aggregates
(campaign credit totals, Markov transitions) then equal a full rebuild's (migration 1913)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.attribution import parallel
from hyperdash_pipeline.attribution.organization import rebuild_organization
from hyperdash_pipeline.attribution.refresh import (
    refresh_attribution_credits,
    refresh_lead_attribution,
)
from tests.support.attribution_support import NOW, lead, touch, upsert_deal, upsert_leads

ORGANIZATIONS = (uuid.UUID("00000000-0000-4000-8000-0000000000a1"), uuid.UUID("00000000-0000-4000-8000-0000000000a2"))
CHANGES = ("insert", "retouch", "delete", "soft_delete", "move", "win", "lose")
RUNS = ("refresh", "full", "parallel", "organization")

Step = tuple[str, int, int]  # (operation, how many leads, which organization or offset)

_STEPS = st.tuples(st.sampled_from(CHANGES + RUNS), st.integers(1, 3), st.integers(0, 5))


@pytest.fixture
def bi(databases, monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    monkeypatch.setattr(parallel, "MIN_PART_BLOCKS", 1)  # test-sized tables still split into parts
    conn = psycopg.connect(databases.bi_url)
    yield conn
    conn.close()


def _reset(bi: psycopg.Connection) -> None:
    bi.execute("TRUNCATE crm_raw.leads, crm_raw.deals")
    bi.execute("DELETE FROM analytics.attribution_state")
    bi.execute("DELETE FROM analytics.attribution_row_changes")
    bi.commit()
    upsert_leads(bi, [_new_lead(ORGANIZATIONS[i % 2]) for i in range(6)])
    refresh_lead_attribution(bi)
    refresh_attribution_credits(bi)


def _new_lead(organization: uuid.UUID) -> dict:
    days = [1, 3] if organization == ORGANIZATIONS[0] else [2]
    return lead(organization_id=organization, touchpoints=[touch(NOW - d * timedelta(days=1), "meta") for d in days])


def _live_ids(bi: psycopg.Connection, n: int, offset: int) -> list[uuid.UUID]:
    rows = bi.execute(
        "SELECT id FROM crm_raw.leads WHERE deleted_at IS NULL ORDER BY id OFFSET %s LIMIT %s", [offset, n]
    ).fetchall()
    return [row[0] for row in rows]


def _change(bi: psycopg.Connection, operation: str, n: int, offset: int) -> None:
    if operation == "insert":
        upsert_leads(bi, [_new_lead(ORGANIZATIONS[offset % 2]) for _ in range(n)])
        return
    ids = _live_ids(bi, n, offset)
    if operation == "win":  # a won deal each, of a different amount
        for i, lead_id in enumerate(ids):
            upsert_deal(bi, lead_id, amount=100.0 * (i + offset + 1), deal_id=uuid.uuid5(lead_id, "deal"))
        return
    if operation == "lose":  # their deals lost, where they have one
        for lead_id in ids:
            lost = "UPDATE crm_raw.deals SET stage = 'lost', _synced_at = now() WHERE id = %s"
            bi.execute(lost, [uuid.uuid5(lead_id, "deal")])
        bi.commit()
        return
    statement = {
        "retouch": "UPDATE crm_raw.leads SET touchpoints = touchpoints || %s::jsonb, _synced_at = now() "
        "WHERE id = ANY(%s)",
        "delete": "DELETE FROM crm_raw.leads WHERE id = ANY(%s)",
        "soft_delete": "UPDATE crm_raw.leads SET deleted_at = %s, _synced_at = now() WHERE id = ANY(%s)",
        "move": "UPDATE crm_raw.leads SET organization_id = CASE WHEN organization_id = %s THEN %s ELSE %s END, "
        "_synced_at = now() WHERE id = ANY(%s)",
    }[operation]
    params: dict[str, list[object]] = {
        "retouch": [f'[{{"timestamp": "{(NOW - timedelta(hours=5)).isoformat()}", "channel": "email"}}]', ids],
        "delete": [ids],
        "soft_delete": [NOW, ids],
        "move": [ORGANIZATIONS[0], ORGANIZATIONS[1], ORGANIZATIONS[0], ids],
    }
    bi.execute(statement, params[operation])
    bi.commit()


def _run(bi: psycopg.Connection, operation: str, offset: int) -> tuple[int, int] | None:
    """Run one refresh or rebuild; the (lead_attribution, credits) row counts a refresh reports, None for a
    rebuild of one organization (it reports none: its change waits in attribution_row_changes)."""
    if operation == "organization":
        rebuild_organization(bi, str(ORGANIZATIONS[offset % 2]))
        return None
    full = operation != "refresh"
    split = 2 if operation == "parallel" else 1
    leads = refresh_lead_attribution(bi, full=full, parallelism=split)
    credits = refresh_attribution_credits(bi, full=full, parallelism=split)
    return leads.row_count, credits.row_count


def _regrouped(bi: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
    """The per-organization aggregates the refreshes keep: campaign credit totals and Markov transitions."""
    queries = {
        "campaign_credit_totals": "SELECT organization_id, campaign_id, touches, round(linear::numeric, 9), "
        "round(linear_revenue, 6) FROM analytics.campaign_credit_totals ORDER BY 1, 2",
        "markov_transitions": "SELECT * FROM analytics.markov_transitions ORDER BY 1, 2, 3, 4",
    }
    kept = {name: bi.execute(query).fetchall() for name, query in queries.items()}
    bi.commit()
    return kept


def _counted(bi: psycopg.Connection) -> tuple[int, int]:
    row = bi.execute(
        "SELECT (SELECT count(*) FROM lead_attribution), (SELECT count(*) FROM analytics.attribution_credits)"
    ).fetchone()
    bi.commit()
    assert row is not None
    return int(row[0]), int(row[1])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_STEPS, min_size=1, max_size=8))
@example(steps=[("insert", 2, 0), ("organization", 1, 0)])  # rows a rebuild adds before any refresh sees them
@example(steps=[("delete", 3, 0), ("organization", 1, 0), ("organization", 1, 1)])  # and rows it removes
@example(steps=[("move", 2, 0), ("organization", 1, 1), ("parallel", 1, 0), ("organization", 1, 0)])
# A lead moved, then its new organization rebuilt: the organization it left must lose its old credits and path.
@example(steps=[("win", 3, 0), ("refresh", 1, 0), ("move", 2, 0), ("organization", 1, 1)])
@example(steps=[("win", 3, 0), ("refresh", 1, 0), ("move", 2, 0), ("organization", 1, 0)])
def test_kept_row_counts_equal_the_tables_after_any_sequence(bi: psycopg.Connection, steps: list[Step]) -> None:
    _reset(bi)
    for operation, n, offset in [*steps, ("refresh", 1, 0)]:  # the last refresh takes in any rebuild's change
        if operation in CHANGES:
            _change(bi, operation, n, offset)
            continue
        reported = _run(bi, operation, offset)
        if reported is not None:
            assert reported == _counted(bi), f"after {operation} in {steps}"
    kept = _regrouped(bi)
    _run(bi, "full", 0)
    assert kept == _regrouped(bi), f"campaign totals or transitions after {steps} differ from a full rebuild's"


def test_a_bi_without_a_kept_count_counts_once_and_keeps_it(bi: psycopg.Connection) -> None:
    """A BI migrated before 1912 keeps no lead_rows: the next incremental refresh counts the table, then keeps it."""
    _reset(bi)
    bi.execute("UPDATE analytics.attribution_state SET lead_rows = NULL")
    bi.commit()
    _change(bi, "insert", 2, 0)
    assert refresh_lead_attribution(bi).row_count == _counted(bi)[0] == 8
    kept = bi.execute("SELECT lead_rows FROM analytics.attribution_state WHERE name = 'lead_attribution'").fetchone()
    assert kept == (8,)
