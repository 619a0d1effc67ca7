"""The mirror's row count the sync keeps in sync_state (the crm_raw assets' dagster/row_count, read without a
count(*) of the mirror) equals count(*) after any sequence of CRM inserts, updates, deletes, incremental and
full syncs, reconciliations, and a BI migrated before the count existed."""

from __future__ import annotations

from contextlib import closing

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.sync import run_sync
from hyperdash_pipeline.sync.engine import SyncReport
from hyperdash_pipeline.sync.reconcile import reconcile
from tests.support.sync_data import assert_exact_mirror, insert_leads, populate

Step = tuple[str, int, int]  # (operation, how many rows, offset among the CRM's leads by id)

_STEPS = st.tuples(
    st.sampled_from(["insert", "update", "delete", "recreate", "sync", "full", "forget", "reconcile"]),
    st.integers(1, 4),
    st.integers(0, 6),
)


def _bi(url: str, statement: str, params: list[object] | None = None) -> list[tuple]:
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _kept_and_counted(bi_url: str) -> tuple[list[tuple], list[tuple]]:
    kept = _bi(bi_url, "SELECT mirror_rows FROM sync_state WHERE table_name = 'leads'")
    counted = _bi(bi_url, "SELECT count(*) FROM crm_raw.leads")
    return kept, counted


def _reset(crm_url: str, bi_url: str) -> None:
    with closing(psycopg.connect(crm_url, autocommit=True)) as conn:
        conn.execute("TRUNCATE leads CASCADE")
        conn.execute("TRUNCATE sync_tombstones")
    _bi(bi_url, "TRUNCATE crm_raw.leads")
    _bi(bi_url, "DELETE FROM sync_state")


def _crm_change(crm_url: str, operation: str, n: int, offset: int) -> None:
    pick = "SELECT id FROM leads ORDER BY id OFFSET %s LIMIT %s"
    with closing(psycopg.connect(crm_url, autocommit=True)) as conn:
        if operation == "insert":
            insert_leads(conn, n)
        elif operation == "update":
            conn.execute(f"UPDATE leads SET status = 'contacted', value = coalesce(value, 0) + 1 WHERE id IN ({pick})",
                         [offset, n])  # fmt: skip
        elif operation == "delete":
            conn.execute(f"DELETE FROM leads WHERE id IN ({pick})", [offset, n])
        elif operation == "recreate":  # deleted, then created again with the same id
            for (lead_id, org) in conn.execute(f"SELECT id, organization_id FROM leads WHERE id IN ({pick})",
                                               [offset, n]).fetchall():  # fmt: skip
                conn.execute("DELETE FROM leads WHERE id = %s", [lead_id])
                conn.execute("INSERT INTO leads (id, organization_id, name) VALUES (%s, %s, 'Reborn')", [lead_id, org])


def _check(report: SyncReport | None, bi_url: str) -> None:
    kept, counted = _kept_and_counted(bi_url)
    if kept:  # no state row: the CRM's leads were empty at every sync so far
        assert kept == counted, f"sync_state.mirror_rows {kept} but count(*) {counted}"
    if report is not None and report.tables["leads"].mirror_rows is not None:
        assert [(report.tables["leads"].mirror_rows,)] == counted


def test_the_kept_row_count_equals_count_star_after_any_sequence_of_changes_and_syncs(databases) -> None:
    crm_url, bi_url = databases.crm_url, databases.bi_url

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(steps=st.lists(_STEPS, max_size=10))
    def scenario(steps: list[Step]) -> None:
        _reset(crm_url, bi_url)
        for operation, n, offset in steps:
            if operation in ("sync", "full"):
                _check(run_sync(crm_url, bi_url, tables=["leads"], full=operation == "full"), bi_url)
            elif operation == "forget":  # a BI migrated before the count existed: the next run counts once
                _bi(bi_url, "UPDATE sync_state SET mirror_rows = NULL")
            elif operation == "reconcile":
                reconcile(crm_url, bi_url, tables=["leads"])
                _check(None, bi_url)
            else:
                _crm_change(crm_url, operation, n, offset)
        _check(run_sync(crm_url, bi_url, tables=["leads"]), bi_url)
        assert_exact_mirror(databases, ["leads"])

    scenario()


def test_every_table_keeps_its_count_and_a_no_op_run_reads_it_without_counting(databases) -> None:
    populate(databases.crm_url, 40)
    first = run_sync(databases.crm_url, databases.bi_url)
    for table, result in first.tables.items():
        assert [(result.mirror_rows,)] == _bi(databases.bi_url, f"SELECT count(*) FROM crm_raw.{table}"), table
    _bi(databases.bi_url, "UPDATE sync_state SET mirror_rows = -1 WHERE table_name = 'notes'")
    again = run_sync(databases.crm_url, databases.bi_url)
    assert again.tables["notes"].mirror_rows == -1, "a run that moves nothing reads the kept count, no count(*)"
    _bi(databases.bi_url, "UPDATE sync_state SET mirror_rows = NULL WHERE table_name = 'notes'")
    counted = run_sync(databases.crm_url, databases.bi_url).tables["notes"].mirror_rows
    assert counted == first.tables["notes"].mirror_rows
    assert _bi(databases.bi_url, "SELECT mirror_rows FROM sync_state WHERE table_name = 'notes'") == [(counted,)]


def test_the_reconciliation_sets_the_count_of_rows_written_behind_the_sync(databases) -> None:
    populate(databases.crm_url, 30)
    run_sync(databases.crm_url, databases.bi_url)
    _bi(databases.bi_url, "DELETE FROM crm_raw.tasks WHERE id IN (SELECT id FROM crm_raw.tasks LIMIT 3)")
    reconcile(databases.crm_url, databases.bi_url, tables=["tasks"], repair=False)
    assert _bi(databases.bi_url, "SELECT mirror_rows FROM sync_state WHERE table_name = 'tasks'") == [(27,)]
    reconcile(databases.crm_url, databases.bi_url, tables=["tasks"])
    assert _bi(databases.bi_url, "SELECT mirror_rows FROM sync_state WHERE table_name = 'tasks'") == [(30,)]
