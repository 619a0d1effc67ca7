"""Daily reconciliation: BI rows changed, deleted or invented behind the sync's back are found by id range
and repaired by copying only those ranges again."""

from __future__ import annotations

import uuid
from contextlib import closing

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from hyperdash_pipeline.sync import run_sync
from hyperdash_pipeline.sync.engine import SYNCED_TABLES, mirror_fingerprints
from hyperdash_pipeline.sync.reconcile import id_range, reconcile
from tests.support.sync_data import populate


def bi_execute(databases, statement: str) -> list[tuple]:
    with closing(psycopg.connect(databases.bi_url, autocommit=True)) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


@given(value=st.uuids(), prefix=st.integers(1, 8))
def test_the_id_range_of_a_prefix_holds_exactly_the_ids_starting_with_it(value: uuid.UUID, prefix: int) -> None:
    bucket = str(value).replace("-", "")[:prefix]
    lower, upper = id_range(bucket)
    assert uuid.UUID(lower) <= value and (upper is None or value < uuid.UUID(upper))
    if upper is not None:  # the next range starts where this one ends
        assert id_range(f"{int(bucket, 16) + 1:0{prefix}x}")[0] == upper


def test_bi_rows_changed_and_deleted_behind_the_sync_are_named_and_repaired(databases) -> None:
    populate(databases.crm_url, 300)
    run_sync(databases.crm_url, databases.bi_url)
    clean = reconcile(databases.crm_url, databases.bi_url, repair=False)
    assert all(t.matched for t in clean.tables.values()), clean.summary()

    changed = bi_execute(databases, "UPDATE crm_raw.leads SET status = 'tampered' WHERE id IN "
                         "(SELECT id FROM crm_raw.leads ORDER BY id LIMIT 3) RETURNING id")  # fmt: skip
    deleted = bi_execute(databases, "DELETE FROM crm_raw.notes WHERE id IN "
                         "(SELECT id FROM crm_raw.notes ORDER BY id DESC LIMIT 2) RETURNING id")  # fmt: skip
    bi_execute(
        databases,
        "INSERT INTO crm_raw.tasks (id, organization_id, title, created_at, updated_at) "
        "SELECT gen_random_uuid(), organization_id, 'invented', now(), now() FROM crm_raw.tasks LIMIT 1",
    )

    found = reconcile(databases.crm_url, databases.bi_url, repair=False)
    differing = {name for name, t in found.tables.items() if not t.matched}
    assert differing == {"leads", "notes", "tasks"}
    leads = found.tables["leads"]
    assert 1 <= len(leads.differing_ranges) <= 3 < leads.buckets
    for (lead_id,) in changed:
        assert any(lo <= str(lead_id) < (hi if hi != "end" else "g") for lo, hi in
                   (span.split("..") for span in leads.differing_ranges))  # fmt: skip
    assert found.tables["notes"].bi_rows == found.tables["notes"].crm_rows - len(deleted)

    repaired = reconcile(databases.crm_url, databases.bi_url)
    assert (repaired.tables["leads"].updated, repaired.tables["notes"].inserted) == (3, 2)
    assert repaired.tables["tasks"].deleted == 1
    assert repaired.tables["leads"].inserted == 0, "only the differing rows are rewritten"
    for table in SYNCED_TABLES:
        crm, bi = mirror_fingerprints(databases.crm_url, databases.bi_url, table)
        assert crm == bi, table
    assert all(t.matched for t in reconcile(databases.crm_url, databases.bi_url).tables.values())
    assert run_sync(databases.crm_url, databases.bi_url).tables["leads"].moved == 0


def test_the_reconciliation_job_observes_and_repairs(databases) -> None:
    from hyperdash_pipeline.definitions import defs

    populate(databases.crm_url, 50)
    run_sync(databases.crm_url, databases.bi_url)
    bi_execute(databases, "DELETE FROM crm_raw.deals WHERE id IN (SELECT id FROM crm_raw.deals LIMIT 1)")
    job = defs.resolve_job_def("crm_bi_reconciliation")
    result = job.execute_in_process(resources={"crm": databases.crm, "bi": databases.bi})
    assert result.success
    observed = {
        e.asset_key.path[-1]: e.asset_observation_data.asset_observation.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION" and e.asset_key is not None
    }
    assert observed["deals"]["reconciled_matched"].value is False
    assert observed["deals"]["reconciled_rows_repaired"].value == 1
    assert observed["leads"]["reconciled_matched"].value is True
    crm, bi = mirror_fingerprints(databases.crm_url, databases.bi_url, "deals")
    assert crm == bi


def test_the_reconcile_command_reports_then_repairs(databases) -> None:
    import subprocess
    import sys

    populate(databases.crm_url, 20)
    run_sync(databases.crm_url, databases.bi_url)
    bi_execute(
        databases, "UPDATE crm_raw.contacts SET name = 'x' WHERE id IN (SELECT id FROM crm_raw.contacts LIMIT 1)"
    )
    command = [sys.executable, "-m", "hyperdash_pipeline.cli", "reconcile"]
    found = subprocess.run([*command, "--no-repair"], capture_output=True, text=True)
    assert found.returncode == 1 and "contacts differs in ids" in found.stdout, found.stderr
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0
    assert subprocess.run([*command, "--no-repair"], capture_output=True, text=True).returncode == 0
