"""Crash safety: the sync process is SIGKILLed at random points (during COPY, the upsert, between
tables, during the receipt) while the CRM keeps changing; a rerun always leaves BI equal to the CRM."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from hyperdash_pipeline.sync.engine import CRM_APPLICATION, run_sync
from hyperdash_pipeline.transforms import scalar
from tests.support.sync_data import assert_exact_mirror, insert_leads, populate

# The child prints once its imports are done, so the random delay measures time spent syncing.
_CHILD = (
    "import sys\n"
    "from hyperdash_pipeline.sync.engine import run_sync\n"
    "print('ready', flush=True)\n"
    "run_sync(sys.argv[1], sys.argv[2], lock_wait_seconds=120)\n"
)
_KILLS_REQUIRED = 20
_MAX_ROUNDS = 45


# A sync killed inside its receipt: the CRM backend, with the receipt's row lock on one lead, is still running
# a statement (here a sleep standing in for a long one) when its process dies.
_DYING_RECEIPT = (
    "import sys\n"
    "from hyperdash_pipeline.sync.engine import CRM_APPLICATION, connect\n"
    "conn = connect(sys.argv[1], CRM_APPLICATION, statement_timeout_ms=120_000, lock_timeout_ms=5_000)\n"
    "with conn.transaction():\n"
    "    conn.execute(\"SET LOCAL hyperdash.receipt = 'on'\")\n"
    "    conn.execute(sys.argv[2])\n"
    "    print('ready', flush=True)\n"
    "    conn.execute('SELECT pg_sleep(120)')\n"
)
_RECEIPT_LOCK = "UPDATE leads SET attribution_synced = true WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1)"


def _unflagged(crm_url: str) -> int:
    with psycopg.connect(crm_url) as conn:
        return int(scalar(conn, "SELECT count(*) FROM leads WHERE NOT attribution_synced"))


def _hold_receipt_lock(conn: psycopg.Connection) -> None:
    """What a sync's receipt does to one lead, left open: its transaction holds that lead's row lock."""
    conn.execute("SET LOCAL hyperdash.receipt = 'on'")
    conn.execute(_RECEIPT_LOCK)


def _synced_without_receipt(databases, leads: int) -> None:
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        insert_leads(conn, leads)
    run_sync(databases.crm_url, databases.bi_url, mark_attribution_synced=False)


def test_a_run_waits_for_the_receipt_of_a_sync_that_died_mid_statement(databases) -> None:
    _synced_without_receipt(databases, 5)
    dead = psycopg.connect(databases.crm_url, application_name=CRM_APPLICATION)
    _hold_receipt_lock(dead)
    threading.Timer(1.0, dead.close).start()  # its backend ends: the lock goes, the update rolls back

    report = run_sync(databases.crm_url, databases.bi_url)

    assert report.warnings == []
    assert report.tables["leads"].attribution_flagged == 5
    assert _unflagged(databases.crm_url) == 0
    assert_exact_mirror(databases, ["leads"])


def test_a_dead_sync_still_holding_locks_after_the_wait_is_named_and_repaired_later(databases) -> None:
    _synced_without_receipt(databases, 5)
    with psycopg.connect(databases.crm_url, application_name=CRM_APPLICATION) as dead:
        _hold_receipt_lock(dead)
        pid = dead.info.backend_pid

        report = run_sync(databases.crm_url, databases.bi_url, lock_wait_seconds=0.5)

        assert len(report.warnings) == 1 and f"CRM backend(s) {pid} of an earlier sync" in report.warnings[0]
        assert report.tables["leads"].attribution_flagged == 4
        dead.rollback()

    assert run_sync(databases.crm_url, databases.bi_url).tables["leads"].attribution_flagged == 1
    assert _unflagged(databases.crm_url) == 0


def test_the_backend_of_a_killed_sync_ends_with_it_and_the_next_run_flags_every_lead(databases) -> None:
    _synced_without_receipt(databases, 5)
    command = [sys.executable, "-c", _DYING_RECEIPT, databases.crm_url, _RECEIPT_LOCK]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready", child.communicate()
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)

    # Without the client check its backend would sleep on, locking one lead, for two minutes.
    report = run_sync(databases.crm_url, databases.bi_url, lock_wait_seconds=30)

    assert report.warnings == []
    assert report.tables["leads"].attribution_flagged == 5
    assert _unflagged(databases.crm_url) == 0


def _mutate_crm(crm_url: str, rng: random.Random) -> None:
    """Inserts, updates, soft and hard deletes across tables, as a busy CRM would."""
    with psycopg.connect(crm_url, autocommit=True) as conn:
        insert_leads(conn, rng.randint(50, 400))
        conn.execute(
            "UPDATE leads SET status = 'contacted', value = coalesce(value, 0) + 1 "
            "WHERE id IN (SELECT id FROM leads ORDER BY random() LIMIT %s)",
            [rng.randint(100, 800)],
        )
        some = "(SELECT id FROM {} ORDER BY random() LIMIT %s)"
        conn.execute("UPDATE leads SET deleted_at = now() WHERE id IN " + some.format("leads"), [5])
        conn.execute("DELETE FROM leads WHERE id IN " + some.format("leads"), [rng.randint(1, 30)])
        conn.execute("UPDATE notes SET body = body || '.' WHERE id IN " + some.format("notes"), [300])
        conn.execute("UPDATE tasks SET completed_at = now() WHERE id IN " + some.format("tasks"), [200])


def _start_child(crm_url: str, bi_url: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, crm_url, bi_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
    return child


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_leaves_bi_equal_to_the_crm(databases) -> None:
    rng = random.Random(20261129)
    populate(databases.crm_url, 4000)
    kills, completed, rounds = 0, 0, 0
    typical = 1.0  # seconds a run takes, re-estimated from the runs that finish
    while kills < _KILLS_REQUIRED and rounds < _MAX_ROUNDS:
        rounds += 1
        if rounds > 1:
            _mutate_crm(databases.crm_url, rng)
        child = _start_child(databases.crm_url, databases.bi_url)
        started = time.monotonic()
        time.sleep(rng.uniform(0.0, typical))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        else:
            completed += 1
            assert child.returncode == 0, child.stderr.read() if child.stderr else ""
            typical = max(0.05, time.monotonic() - started)
        child.wait(timeout=60)
        if child.stdout:
            child.stdout.close()
        if child.stderr:
            child.stderr.close()
        if rounds % 8 == 0:  # a clean rerun repairs whatever the kills interrupted
            run_sync(databases.crm_url, databases.bi_url)
            assert_exact_mirror(databases)

    assert kills >= _KILLS_REQUIRED, f"only {kills} of {rounds} runs were killed mid-sync ({completed} completed)"
    run_sync(databases.crm_url, databases.bi_url)
    assert_exact_mirror(databases)
    with psycopg.connect(databases.crm_url) as conn:
        assert conn.execute("SELECT count(*) FROM leads WHERE NOT attribution_synced").fetchone() == (0,)
