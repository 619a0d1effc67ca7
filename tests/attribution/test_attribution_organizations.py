"""One organization rebuilt from Dagster (issue #18): the `organizations` dynamic partitions kept by a sensor,
and the partitioned job `rebuild_organization`, which rewrites that organization's rows as a full rebuild
would and leaves every other organization's rows as they were."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context, instance_for_test

from hyperdash_pipeline.attribution.organization import OrganizationRebuildError, rebuild_organization
from hyperdash_pipeline.attribution.refresh import (
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from hyperdash_pipeline.defs.attribution.organizations import (
    ORGANIZATIONS_PARTITIONS_NAME,
    organization_partitions,
    rebuild_organization_job,
)
from hyperdash_pipeline.transforms import sql_steps
from tests.support.attribution_support import lead, upsert_leads
from tests.support.postgres import Databases

REBUILT = "00000000-0000-4000-8000-000000000001"
OTHER = "00000000-0000-4000-8000-000000000002"
# Every table the rebuild writes that has an organization_id column.
BY_ORGANIZATION = (
    "lead_attribution",
    "analytics.attribution_touch_credits",
    "analytics.attribution_paths",
    "analytics.markov_transitions",
    "analytics.campaign_credit_totals",
    "analytics.markov_attribution",
    "analytics.unmapped_channels",
)
# Columns a rebuild stamps with its own time or run; left out when comparing with a full rebuild.
STAMPS = {"created_at", "computed_at", "refreshed_at", "run_id"}
_ROUND = 9  # float sums regrouped in another order differ in the last bits


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        yield instance


def _generate(conn: psycopg.Connection, leads: int) -> None:
    params = {"leads": leads, "deals": leads // 4, "campaigns": 60}
    for query in sql_steps("benchmarks/attribution_generate.sql").values():
        conn.execute(query, params if "%(" in query else None)
    conn.commit()


def _rebuild_all(conn: psycopg.Connection) -> None:
    refresh_lead_attribution(conn, full=True)
    refresh_attribution_credits(conn, full=True)
    refresh_markov_attribution(conn)


def _select(conn: psycopg.Connection, query: str, organization: str, keep_stamps: bool) -> list[tuple[Any, ...]]:
    cur = conn.execute(query, {"org": organization})
    names = [c.name for c in cur.description or []]
    keep = [i for i, name in enumerate(names) if keep_stamps or name not in STAMPS]
    rows = cur.fetchall()
    return sorted(
        (tuple(round(row[i], _ROUND) if isinstance(row[i], float) else row[i] for i in keep) for row in rows),
        key=repr,
    )


def _queries(inside: bool) -> dict[str, str]:
    """Per table, the rows of organization %(org)s (inside) or of every other organization."""
    match = "=" if inside else "<>"
    leads_of = f"SELECT id FROM crm_raw.leads WHERE organization_id {match} %(org)s::uuid"
    queries = {t: f"SELECT * FROM {t} WHERE organization_id {match} %(org)s::uuid" for t in BY_ORGANIZATION}
    queries["analytics.lead_outcomes"] = f"SELECT * FROM analytics.lead_outcomes WHERE lead_id IN ({leads_of})"
    queries["quarantine"] = (
        "SELECT stage, source_ref, reason, payload::text FROM quarantine WHERE stage = 'lead_attribution' "
        f"AND source_ref LIKE 'crm_raw.leads/%%' AND (payload ->> 'lead_id')::uuid IN ({leads_of})"
    )
    return queries


def _state(conn: psycopg.Connection, organization: str, inside: bool, keep_stamps: bool) -> dict[str, list[Any]]:
    state = {table: _select(conn, q, organization, keep_stamps) for table, q in _queries(inside).items()}
    conn.rollback()
    return state


def _change(conn: psycopg.Connection) -> None:
    """Edits in both organizations: hard and soft deletes, new touchpoints and a new lead with bad ones, a
    deal won. No lead moves between organizations."""
    for org in (REBUILT, OTHER):
        conn.execute(
            "DELETE FROM crm_raw.leads WHERE id IN (SELECT id FROM crm_raw.leads l WHERE organization_id = %s "
            "AND NOT EXISTS (SELECT 1 FROM crm_raw.deals d WHERE d.lead_id = l.id) ORDER BY id LIMIT 15)",
            (org,),
        )
        conn.execute(
            "UPDATE crm_raw.leads SET deleted_at = now(), _synced_at = now() "
            "WHERE id IN (SELECT id FROM crm_raw.leads WHERE organization_id = %s ORDER BY id DESC LIMIT 10)",
            (org,),
        )
        conn.execute(
            "UPDATE crm_raw.leads SET utm_source = 'newsletter', campaign_id = 'c7', touchpoints = touchpoints || "
            '\'[{"timestamp": "2026-09-30T08:00:00Z", "channel": "fax", "campaign_id": "c7"}]\'::jsonb, '
            "_synced_at = now() WHERE id IN (SELECT id FROM crm_raw.leads WHERE organization_id = %s "
            "AND deleted_at IS NULL ORDER BY id OFFSET 50 LIMIT 40)",
            (org,),
        )
        conn.execute(
            "UPDATE crm_raw.deals SET stage = 'won', amount = 1234.50, closed_at = now(), _synced_at = now() "
            "WHERE id IN (SELECT d.id FROM crm_raw.deals d JOIN crm_raw.leads l ON l.id = d.lead_id "
            "WHERE l.organization_id = %s AND l.deleted_at IS NULL ORDER BY d.id LIMIT 20)",
            (org,),
        )
        conn.commit()
        bad = [{"timestamp": "not a date", "channel": "meta"}, {"timestamp": "2026-10-01T00:00:00Z", "channel": "fax"}]
        upsert_leads(
            conn,
            [
                lead(organization_id=uuid.UUID(org), campaign_id=f"c{i}", utm_source="google", touchpoints=bad)
                for i in range(5)
            ],
        )


def test_rebuild_organization_job_rebuilds_that_organization_only(
    databases: Databases, instance: DagsterInstance
) -> None:
    """A real run of the partitioned job for one organization: its rows become those of a full rebuild of the
    changed data, every other organization's rows stay exactly as they were (stamps included)."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=3_000)
        _rebuild_all(conn)
        _change(conn)
        others_before = _state(conn, REBUILT, inside=False, keep_stamps=True)
        stale = _state(conn, REBUILT, inside=True, keep_stamps=False)
        state_before = conn.execute("SELECT name, last_run_id FROM analytics.attribution_state ORDER BY 1").fetchall()
        conn.rollback()

        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITIONS_NAME, [REBUILT, OTHER])
        result = rebuild_organization_job.execute_in_process(
            partition_key=REBUILT, instance=instance, resources={"bi": databases.bi}
        )
        assert result.success
        assert result.dagster_run.tags["dagster/partition"] == REBUILT
        others_after = _state(conn, REBUILT, inside=False, keep_stamps=True)
        rebuilt = _state(conn, REBUILT, inside=True, keep_stamps=False)
        logged = conn.execute(
            "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted) "
            "FROM analytics.lead_attribution_changes WHERE run_id > (SELECT max(last_run_id) "
            "FROM analytics.attribution_state)"
        ).fetchone()
        state_after = conn.execute("SELECT name, last_run_id FROM analytics.attribution_state ORDER BY 1").fetchall()
        conn.rollback()

        _rebuild_all(conn)
        full = _state(conn, REBUILT, inside=True, keep_stamps=False)

    assert result.output_for_node("rebuild_organization_attribution") is None
    assert state_after == state_before, "the whole-table refreshes' bookkeeping must not move"
    live = len(full["lead_attribution"])
    assert logged == (live, 25), "every recomputed and removed lead is logged for the correlation refresh"
    changed = [table for table, rows in full.items() if stale[table] != rows]
    assert set(changed) >= {"lead_attribution", "analytics.attribution_touch_credits", "quarantine"}, changed
    assert "analytics.lead_outcomes" in changed and "analytics.markov_attribution" in changed, changed
    for table, rows in full.items():
        assert rows, f"{table} is empty for the organization: the comparison would prove nothing"
        assert rebuilt[table] == rows, f"{table}: the organization's rows differ from a full rebuild's"
    for table, rows in others_before.items():
        assert others_after[table] == rows, f"{table}: another organization's rows changed"
    assert any(rows for rows in others_before.values())


def test_rebuild_organization_refuses_a_key_that_is_not_an_organization(databases: Databases) -> None:
    with (
        psycopg.connect(databases.bi_url) as conn,
        pytest.raises(OrganizationRebuildError, match="not an organization id"),
    ):
        rebuild_organization(conn, "acme")


def test_rebuild_organization_before_any_refresh_names_the_fix(databases: Databases) -> None:
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=100)
        with pytest.raises(OrganizationRebuildError, match="hyperdash attribute --full"):
            rebuild_organization(conn, REBUILT)


def _apply(instance: DagsterInstance, result: SensorResult) -> None:
    """What the daemon does with a sensor's dynamic partition requests."""
    for request in result.dynamic_partitions_requests or []:
        if type(request).__name__ == "AddDynamicPartitionsRequest":
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


def test_sensor_adds_and_removes_organization_partitions(databases: Databases, instance: DagsterInstance) -> None:
    """Against a real (temporary) instance: the partitions follow BI's organizations table."""
    new = "00000000-0000-4000-8000-0000000000ee"
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=100)
        organizations = sorted(str(row[0]) for row in conn.execute("SELECT id FROM organizations"))
        conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, 'New', 'new')", (new,))
        conn.commit()
        context = build_sensor_context(instance=instance, resources={"bi": databases.bi})
        first = organization_partitions(context)
        assert isinstance(first, SensorResult)
        _apply(instance, first)
        assert sorted(instance.get_dynamic_partitions(ORGANIZATIONS_PARTITIONS_NAME)) == sorted([*organizations, new])

        conn.execute("DELETE FROM organizations WHERE id = %s", (new,))
        conn.commit()
        second = organization_partitions(build_sensor_context(instance=instance, resources={"bi": databases.bi}))
        assert isinstance(second, SensorResult)
        assert [(type(r).__name__, list(r.partition_keys)) for r in second.dynamic_partitions_requests or []] == [
            ("DeleteDynamicPartitionsRequest", [new])
        ]
        _apply(instance, second)
        assert sorted(instance.get_dynamic_partitions(ORGANIZATIONS_PARTITIONS_NAME)) == organizations

        third = organization_partitions(build_sensor_context(instance=instance, resources={"bi": databases.bi}))
        assert isinstance(third, SkipReason)
