"""The sync engine against real CRM and BI databases: exact mirror under ties, late commits, deletes,
re-runs and concurrent runs, and the CRM receipt flag without lost updates."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg.abc import Params

from hyperdash_pipeline.conventions import CRM_TABLES
from hyperdash_pipeline.sync.engine import (
    SYNCED_TABLES,
    SyncAlreadyRunning,
    SyncError,
    explain_next_read,
    mark_attribution_synced,
    run_sync,
)
from tests.support.sync_data import assert_exact_mirror, insert_leads, populate


def crm_conn(databases, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(databases.crm_url, autocommit=autocommit)


def bi_rows(databases, query: str, params: Params | None = None) -> list[tuple]:
    with psycopg.connect(databases.bi_url) as conn:
        return conn.execute(query, params).fetchall()


def mirrored_ids(databases, table: str = "leads") -> set[str]:
    return {str(r[0]) for r in bi_rows(databases, f"SELECT id FROM crm_raw.{table}")}


@contextmanager
def open_transaction(databases) -> Iterator[psycopg.Connection]:
    """A CRM transaction the test commits itself (closing without commit rolls back)."""
    conn = crm_conn(databases, autocommit=False)
    try:
        yield conn
    finally:
        conn.close()


def test_engine_syncs_the_conventional_crm_tables() -> None:
    assert tuple(CRM_TABLES) == SYNCED_TABLES


def test_first_run_copies_every_table_exactly(databases) -> None:
    populate(databases.crm_url, 300)

    report = run_sync(databases.crm_url, databases.bi_url)

    assert {t: r.mode for t, r in report.tables.items()} == dict.fromkeys(SYNCED_TABLES, "full")
    assert report.tables["leads"].inserted == 300
    assert report.tables["tasks"].inserted == 300
    assert_exact_mirror(databases)
    with crm_conn(databases) as conn:
        assert conn.execute("SELECT count(*) FROM leads WHERE NOT attribution_synced").fetchone() == (0,)


def test_a_full_copy_leaves_the_mirror_with_statistics(databases) -> None:
    """The refreshes that run right after a first or full copy plan against the copied rows' statistics, not an
    empty table's, whether or not autovacuum has run (or is on)."""
    populate(databases.crm_url, 300)
    run_sync(databases.crm_url, databases.bi_url)
    for table in SYNCED_TABLES:  # ANALYZE of a table this small reads every row: reltuples is its exact count
        ((estimated, counted),) = bi_rows(
            databases,
            f"SELECT (SELECT reltuples FROM pg_class WHERE oid = 'crm_raw.{table}'::regclass), "
            f"(SELECT count(*) FROM crm_raw.{table})",
        )
        assert (table, estimated) == (table, counted)


def test_later_runs_move_only_what_changed(databases) -> None:
    populate(databases.crm_url, 200)
    run_sync(databases.crm_url, databases.bi_url)
    with crm_conn(databases) as conn:
        conn.execute("UPDATE leads SET status = 'won' WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 7)")
        insert_leads(conn, 4)
        conn.execute("UPDATE notes SET body = body || ' (edited)' WHERE id IN (SELECT id FROM notes LIMIT 2)")

    report = run_sync(databases.crm_url, databases.bi_url)

    leads = report.tables["leads"]
    assert (leads.mode, leads.inserted, leads.updated, leads.deleted) == ("incremental", 4, 7, 0)
    assert report.tables["notes"].updated == 2
    assert report.tables["contacts"].moved == 0
    assert_exact_mirror(databases)


def test_second_sync_without_change_writes_nothing(databases) -> None:
    populate(databases.crm_url, 100)
    run_sync(databases.crm_url, databases.bi_url)
    first = run_sync(databases.crm_url, databases.bi_url)  # settles the receipts of run one
    state_before = bi_rows(databases, "SELECT xmin::text, * FROM sync_state ORDER BY table_name")
    rows_before = bi_rows(databases, "SELECT id, xmin::text, _synced_at FROM crm_raw.leads ORDER BY id")

    second = run_sync(databases.crm_url, databases.bi_url)

    assert all(r.moved == 0 for r in second.tables.values())
    assert {t: r.watermark for t, r in second.tables.items()} == {t: r.watermark for t, r in first.tables.items()}
    assert bi_rows(databases, "SELECT xmin::text, * FROM sync_state ORDER BY table_name") == state_before
    assert bi_rows(databases, "SELECT id, xmin::text, _synced_at FROM crm_raw.leads ORDER BY id") == rows_before


def test_rows_sharing_one_updated_at_across_a_run_boundary_arrive_once(databases) -> None:
    """Two transactions stamp 400 rows each with the same updated_at; one commits before a sync, the
    other after it. A cursor on max(updated_at) alone would skip the second half."""
    with crm_conn(databases) as conn:
        insert_leads(conn, 50)
    run_sync(databases.crm_url, databases.bi_url)
    with open_transaction(databases) as first, open_transaction(databases) as second:
        first.execute("SELECT 1")  # both transactions have started before the shared stamp
        second.execute("SELECT 1")
        with crm_conn(databases) as clock:
            stamp = clock.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        insert_leads(first, 400, updated_at=stamp)
        insert_leads(second, 400, updated_at=stamp)
        first.commit()
        middle = run_sync(databases.crm_url, databases.bi_url)
        second.commit()
    last = run_sync(databases.crm_url, databases.bi_url)

    assert middle.tables["leads"].inserted + last.tables["leads"].inserted == 800
    assert bi_rows(databases, "SELECT count(*) FROM crm_raw.leads WHERE updated_at = %s", [stamp]) == [(800,)]
    assert_exact_mirror(databases, ["leads"])


def test_late_commit_with_an_older_updated_at_reaches_bi(databases) -> None:
    """A row written before a newer committed row, but committed after a sync, still arrives."""
    with crm_conn(databases) as conn:
        insert_leads(conn, 10)
    run_sync(databases.crm_url, databases.bi_url)
    with open_transaction(databases) as slow:
        slow.execute("UPDATE leads SET status = 'qualified' WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1)")
        late_id, late_stamp = slow.execute(
            "SELECT id, updated_at FROM leads WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1)"
        ).fetchone()  # type: ignore[misc]
        with crm_conn(databases) as conn:
            insert_leads(conn, 3)  # committed, stamped after the open transaction's row
        run_sync(databases.crm_url, databases.bi_url)
        assert bi_rows(databases, "SELECT status FROM crm_raw.leads WHERE id = %s", [late_id]) == [("new",)]
        slow.commit()

    run_sync(databases.crm_url, databases.bi_url)

    assert bi_rows(databases, "SELECT status, updated_at FROM crm_raw.leads WHERE id = %s", [late_id]) == [
        ("qualified", late_stamp)
    ]
    assert_exact_mirror(databases, ["leads"])


def test_a_long_open_crm_transaction_is_reported(databases) -> None:
    with open_transaction(databases) as slow:
        insert_leads(slow, 1)
        slow.execute("SET application_name = 'slow-report'")
        pid = slow.info.backend_pid
        time.sleep(0.3)

        report = run_sync(databases.crm_url, databases.bi_url, max_open_transaction_seconds=0.1)

    assert report.horizon.holder_pid == pid
    assert report.tables["leads"].lag_seconds >= 0.3
    assert len(report.warnings) == 1
    assert f"pid {pid}" in report.warnings[0] and "slow-report" in report.warnings[0]


def test_hard_and_soft_deletes_reach_bi(databases) -> None:
    populate(databases.crm_url, 60)
    run_sync(databases.crm_url, databases.bi_url)
    with crm_conn(databases) as conn:
        gone = conn.execute("SELECT id FROM leads WHERE status = 'won' LIMIT 1").fetchone()[0]  # type: ignore[index]
        soft = conn.execute("SELECT id FROM leads WHERE id <> %s LIMIT 1", [gone]).fetchone()[0]  # type: ignore[index]
        conn.execute("DELETE FROM leads WHERE id = %s", [gone])  # cascades to its deal, task, note, activity
        conn.execute("UPDATE leads SET deleted_at = now() WHERE id = %s", [soft])

    report = run_sync(databases.crm_url, databases.bi_url)

    assert report.tables["leads"].deleted == 1
    assert report.tables["deals"].deleted == 1
    assert report.tables["tasks"].deleted == 1
    assert str(gone) not in mirrored_ids(databases)
    assert bi_rows(databases, "SELECT deleted_at IS NOT NULL FROM crm_raw.leads WHERE id = %s", [soft]) == [(True,)]
    assert_exact_mirror(databases)


def test_applied_tombstones_are_pruned_after_the_retention_and_deletes_still_sync(databases) -> None:
    def tombstones() -> list[tuple[object, ...]]:
        with crm_conn(databases) as conn:
            return conn.execute(
                "SELECT id FROM sync_tombstones WHERE table_name = 'leads' ORDER BY deleted_at"
            ).fetchall()

    with crm_conn(databases) as conn:
        insert_leads(conn, 6)
    run_sync(databases.crm_url, databases.bi_url)
    with crm_conn(databases) as conn:
        for _ in range(3):  # three tombstones, stamped one after the other
            conn.execute("DELETE FROM leads WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1)")
    deleted = tombstones()

    kept = run_sync(databases.crm_url, databases.bi_url)  # default retention: all three are recent
    assert (kept.tables["leads"].deleted, kept.tables["leads"].tombstones_pruned, tombstones()) == (3, 0, deleted)

    pruned = run_sync(databases.crm_url, databases.bi_url, tombstone_retention_days=0)
    assert pruned.tables["leads"].tombstones_pruned == 2  # all but the one at the watermark itself
    assert tombstones() == deleted[-1:]
    with crm_conn(databases) as conn:
        conn.execute("DELETE FROM leads WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1)")
    assert run_sync(databases.crm_url, databases.bi_url, tombstone_retention_days=0).tables["leads"].deleted == 1
    assert_exact_mirror(databases, ["leads"])


def test_a_delete_committed_late_reaches_bi(databases) -> None:
    with crm_conn(databases) as conn:
        insert_leads(conn, 4)
    run_sync(databases.crm_url, databases.bi_url)
    with open_transaction(databases) as slow:
        gone = slow.execute("DELETE FROM leads WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1) RETURNING id")
        gone_id = gone.fetchone()[0]  # type: ignore[index]
        with crm_conn(databases) as conn:
            conn.execute("DELETE FROM leads WHERE id = (SELECT id FROM leads ORDER BY id DESC LIMIT 1)")
        run_sync(databases.crm_url, databases.bi_url)
        slow.commit()

    run_sync(databases.crm_url, databases.bi_url)

    assert str(gone_id) not in mirrored_ids(databases)
    assert_exact_mirror(databases, ["leads"])


def test_an_id_deleted_and_recreated_keeps_its_new_version(databases) -> None:
    with crm_conn(databases) as conn:
        insert_leads(conn, 5)
    run_sync(databases.crm_url, databases.bi_url)
    with crm_conn(databases) as conn:
        lead_id, org = conn.execute("SELECT id, organization_id FROM leads LIMIT 1").fetchone()  # type: ignore[misc]
        conn.execute("DELETE FROM leads WHERE id = %s", [lead_id])
        conn.execute("INSERT INTO leads (id, organization_id, name) VALUES (%s, %s, 'Reborn')", [lead_id, org])

    run_sync(databases.crm_url, databases.bi_url)

    assert bi_rows(databases, "SELECT name FROM crm_raw.leads WHERE id = %s", [lead_id]) == [("Reborn",)]
    assert_exact_mirror(databases, ["leads"])


def test_two_syncs_started_together_corrupt_nothing(databases) -> None:
    populate(databases.crm_url, 400)
    results: list[object] = []

    def sync() -> None:
        try:
            results.append(run_sync(databases.crm_url, databases.bi_url))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not [r for r in results if isinstance(r, Exception)]
    inserted = sum(r.tables["leads"].inserted for r in results)  # type: ignore[attr-defined]
    assert inserted == 400  # the second waited for the first and found nothing new
    assert_exact_mirror(databases)


def test_a_sync_that_cannot_get_the_lock_says_why(databases) -> None:
    with psycopg.connect(databases.bi_url, autocommit=True, application_name="other-sync") as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('hyperdash/crm_to_bi_sync'))")
        with pytest.raises(SyncAlreadyRunning, match=r"another CRM -> BI sync is running.*other-sync"):
            run_sync(databases.crm_url, databases.bi_url, lock_wait_seconds=0)
    assert mirrored_ids(databases) == set()


def test_receipt_is_not_set_on_a_lead_changed_after_the_bi_commit(databases) -> None:
    with crm_conn(databases) as conn:
        insert_leads(conn, 20)
    run_sync(databases.crm_url, databases.bi_url, mark_attribution_synced=False)
    with crm_conn(databases) as conn:
        changed = conn.execute(
            "UPDATE leads SET status = 'won' WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]

    assert mark_attribution_synced(databases.crm_url, databases.bi_url) == 19

    with crm_conn(databases) as conn:
        rows = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, status, attribution_synced FROM leads")}
    assert rows.pop(changed) == ("won", False)  # the newer write kept, no receipt for an unsynced version
    assert set(rows.values()) == {("new", True)}
    run_sync(databases.crm_url, databases.bi_url)
    with crm_conn(databases) as conn:
        assert conn.execute("SELECT count(*) FROM leads WHERE NOT attribution_synced").fetchone() == (0,)
    assert_exact_mirror(databases, ["leads"])


def test_receipt_skips_a_lead_locked_by_an_open_write(databases) -> None:
    with crm_conn(databases) as conn:
        insert_leads(conn, 5)
    run_sync(databases.crm_url, databases.bi_url, mark_attribution_synced=False)
    with open_transaction(databases) as writer:
        locked = writer.execute(
            "UPDATE leads SET phone = '+1 555' WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        assert mark_attribution_synced(databases.crm_url, databases.bi_url) == 4  # does not wait for the lock
        writer.commit()
    with crm_conn(databases) as conn:
        assert conn.execute("SELECT phone, attribution_synced FROM leads WHERE id = %s", [locked]).fetchone() == (
            "+1 555",
            False,
        )


def test_a_lead_skipped_under_a_lock_that_is_rolled_back_gets_its_receipt_next_run(databases) -> None:
    with crm_conn(databases) as conn:
        insert_leads(conn, 5)
    run_sync(databases.crm_url, databases.bi_url, mark_attribution_synced=False)
    with open_transaction(databases) as writer:
        writer.execute("SELECT id FROM leads ORDER BY id LIMIT 1 FOR UPDATE")
        assert mark_attribution_synced(databases.crm_url, databases.bi_url) == 4
        writer.rollback()  # the lead is unchanged: BI holds its current version, it still lacks the receipt
    with crm_conn(databases) as conn:
        insert_leads(conn, 2)  # a later change, so the receipt watermark would move past the skipped lead

    report = run_sync(databases.crm_url, databases.bi_url)

    assert report.tables["leads"].attribution_flagged == 3
    with crm_conn(databases) as conn:
        assert conn.execute("SELECT count(*) FROM leads WHERE NOT attribution_synced").fetchone() == (0,)


def test_no_leads_index_references_the_receipt_flag(databases) -> None:
    """The receipt then rewrites a lead in place on its page (a HOT update) without touching any index."""
    with crm_conn(databases) as conn:
        indexes = conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attname = 'attribution_synced' "
            "WHERE i.indrelid = 'leads'::regclass AND (a.attnum = ANY (i.indkey) "
            "OR pg_get_expr(i.indpred, i.indrelid) LIKE '%attribution_synced%' "
            "OR pg_get_expr(i.indexprs, i.indrelid) LIKE '%attribution_synced%')"
        ).fetchall()
    assert indexes == []


def test_setting_only_the_receipt_does_not_bump_updated_at(databases) -> None:
    with crm_conn(databases) as conn:
        insert_leads(conn, 1)
        before = conn.execute("SELECT updated_at FROM leads").fetchone()
        conn.execute("UPDATE leads SET attribution_synced = true")
        assert conn.execute("SELECT updated_at FROM leads").fetchone() == before
        conn.execute("UPDATE leads SET attribution_synced = false, status = 'lost'")
        assert conn.execute("SELECT updated_at > %s FROM leads", before).fetchone() == (True,)


def test_a_changed_lead_loses_its_receipt_until_the_next_sync(databases) -> None:
    with crm_conn(databases) as conn:
        insert_leads(conn, 3)
    run_sync(databases.crm_url, databases.bi_url)
    with crm_conn(databases) as conn:
        changed = conn.execute(
            "UPDATE leads SET status = 'won' WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        unsynced = [r[0] for r in conn.execute("SELECT id FROM leads WHERE NOT attribution_synced")]
    assert unsynced == [changed]

    report = run_sync(databases.crm_url, databases.bi_url)

    assert report.tables["leads"].attribution_flagged == 1
    assert_exact_mirror(databases, ["leads"])


def test_full_refresh_of_one_table_repairs_its_mirror(databases) -> None:
    populate(databases.crm_url, 50)
    run_sync(databases.crm_url, databases.bi_url)
    with psycopg.connect(databases.bi_url, autocommit=True) as bi:
        bi.execute("DELETE FROM crm_raw.leads WHERE id IN (SELECT id FROM crm_raw.leads LIMIT 10)")
        bi.execute("UPDATE crm_raw.deals SET title = 'tampered'")
    notes_before = bi_rows(databases, "SELECT id, xmin::text FROM crm_raw.notes ORDER BY id")

    report = run_sync(databases.crm_url, databases.bi_url, tables=["leads"], full=True)

    assert list(report.tables) == ["leads"]
    assert (report.tables["leads"].mode, report.tables["leads"].inserted) == ("full", 50)
    assert_exact_mirror(databases, ["leads"])
    assert bi_rows(databases, "SELECT count(*) FROM crm_raw.deals WHERE title = 'tampered'") != [(0,)]
    assert bi_rows(databases, "SELECT id, xmin::text FROM crm_raw.notes ORDER BY id") == notes_before


def test_unknown_table_is_refused_with_the_valid_names(databases) -> None:
    with pytest.raises(SyncError, match=r"unknown CRM table.*invoices.*choose among contacts, leads"):
        run_sync(databases.crm_url, databases.bi_url, tables=["invoices"])


def test_incremental_read_uses_the_updated_at_index(databases) -> None:
    with crm_conn(databases) as conn:
        insert_leads(conn, 20_000)
        conn.execute("ANALYZE leads")
        run_sync(databases.crm_url, databases.bi_url)
        conn.execute("UPDATE leads SET status = 'won' WHERE id IN (SELECT id FROM leads LIMIT 50)")

    plan = explain_next_read(databases.crm_url, databases.bi_url, "leads")

    assert "leads_updated_at_id_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
