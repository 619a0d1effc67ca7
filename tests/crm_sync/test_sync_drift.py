"""Schema drift between two syncs: the BI mirror follows the CRM's columns without a full resync."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
from dagster import TableSchema, materialize
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.conventions import crm_raw_key
from hyperdash_pipeline.defs.crm_sync.mirror import SYNC_OP_NAME, crm_raw_sync, crm_source_specs
from hyperdash_pipeline.sync.engine import SYNCED_TABLES, mirror_fingerprints, run_sync
from hyperdash_pipeline.sync.schema import widens_safely
from tests.support.sync_data import insert_leads, populate


def crm(databases: Any) -> psycopg.Connection:
    return psycopg.connect(databases.crm_url, autocommit=True)


def mirror_type(databases: Any, table: str, column: str) -> str | None:
    with psycopg.connect(databases.bi_url) as bi:
        row = bi.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
            [f"crm_raw.{table}", column],
        ).fetchone()
    return None if row is None else str(row[0])


def mirrored(databases: Any, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(databases.bi_url) as bi:
        return bi.execute(query).fetchall()


def synced_once(databases: Any, leads: int = 30) -> None:
    populate(databases.crm_url, leads)
    run_sync(databases.crm_url, databases.bi_url)


def test_a_column_added_with_a_default_reaches_old_and_new_rows_without_a_full_resync(databases: Any) -> None:
    synced_once(databases)
    with crm(databases) as conn:
        conn.execute("ALTER TABLE leads ADD COLUMN tier text NOT NULL DEFAULT 'standard'")
        conn.execute("UPDATE leads SET tier = 'gold' WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 4)")
        insert_leads(conn, 3)

    report = run_sync(databases.crm_url, databases.bi_url, tables=["leads"])

    leads = report.tables["leads"]
    assert (leads.mode, leads.inserted, leads.updated) == ("incremental", 3, 4), "only the changed rows move"
    assert leads.schema_changes == ["crm_raw.leads.tier text added from the CRM and backfilled"]
    tiers = dict(mirrored(databases, "SELECT tier, count(*) FROM crm_raw.leads GROUP BY tier"))
    assert tiers == {"gold": 4, "standard": 29}
    source, mirror = mirror_fingerprints(databases.crm_url, databases.bi_url, "leads")
    assert source == mirror


def test_a_column_added_with_one_value_everywhere_is_filled_without_rewriting_a_mirror_row(databases: Any) -> None:
    synced_once(databases)
    rows = "SELECT id, ctid, _synced_at FROM crm_raw.leads ORDER BY id"
    before = mirrored(databases, rows)
    with crm(databases) as conn:
        conn.execute("ALTER TABLE leads ADD COLUMN score integer NOT NULL DEFAULT 7, ADD COLUMN memo text")

    leads = run_sync(databases.crm_url, databases.bi_url, tables=["leads"]).tables["leads"]

    assert leads.schema_changes == [
        "crm_raw.leads.score integer added from the CRM and filled (one value on every row, no rewrite)",
        "crm_raw.leads.memo text added from the CRM and filled (one value on every row, no rewrite)",
    ]
    assert mirrored(databases, rows) == before, "no mirror row was rewritten"
    assert mirrored(databases, "SELECT score, memo, count(*) FROM crm_raw.leads GROUP BY 1, 2") == [(7, None, 30)]
    with psycopg.connect(databases.bi_url) as bi:
        default = bi.execute(
            "SELECT column_default FROM information_schema.columns WHERE table_schema = 'crm_raw'"
            " AND table_name = 'leads' AND column_name = 'score'"
        ).fetchone()
    assert default == (None,), "the mirror keeps no default of its own"
    with crm(databases) as conn:
        insert_leads(conn, 2)
        conn.execute("UPDATE leads SET score = 9 WHERE name = 'Lead 1'")
    run_sync(databases.crm_url, databases.bi_url, tables=["leads"])
    source, mirror = mirror_fingerprints(databases.crm_url, databases.bi_url, "leads")
    assert source == mirror


def test_a_column_added_without_a_default_is_null_for_old_rows_and_set_for_new_ones(databases: Any) -> None:
    synced_once(databases)
    with crm(databases) as conn:
        conn.execute('ALTER TABLE deals ADD COLUMN "Lost Reason" varchar(40)')
        conn.execute("""UPDATE deals SET "Lost Reason" = 'price' WHERE stage = 'lost'""")
        lost = conn.execute("SELECT count(*) FROM deals WHERE stage = 'lost'").fetchone()

    run_sync(databases.crm_url, databases.bi_url, tables=["deals"])

    reasons = dict(mirrored(databases, 'SELECT "Lost Reason", count(*) FROM crm_raw.deals GROUP BY 1'))
    assert lost is not None and lost[0] > 0 and reasons.pop("price") == lost[0]
    assert set(reasons) == {None}
    assert mirror_type(databases, "deals", "Lost Reason") == "character varying(40)"
    source, mirror = mirror_fingerprints(databases.crm_url, databases.bi_url, "deals")
    assert source == mirror


def test_a_column_dropped_in_the_crm_stays_in_bi_null_from_then_on_and_is_in_the_metadata(databases: Any) -> None:
    synced_once(databases)
    with crm(databases) as conn:
        conn.execute("ALTER TABLE contacts DROP COLUMN phone")
        conn.execute("UPDATE contacts SET name = name || ' (moved)' WHERE id IN (SELECT id FROM contacts LIMIT 5)")
        conn.execute("INSERT INTO contacts (organization_id, name) VALUES (gen_random_uuid(), 'newcomer')")

    result = materialize(
        [*crm_source_specs(), crm_raw_sync],
        resources={"crm": databases.crm, "bi": databases.bi},
        selection=[crm_raw_key("contacts")],
    )

    (materialization,) = result.asset_materializations_for_node(SYNC_OP_NAME)
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["columns_dropped_in_crm"] == "phone"
    schema = metadata["dagster/column_schema"]
    assert isinstance(schema, TableSchema) and "phone" in [column.name for column in schema.columns]
    phones = mirrored(
        databases,
        "SELECT name LIKE '%(moved)' OR name = 'newcomer', count(*) FILTER (WHERE phone IS NULL), count(*)"
        " FROM crm_raw.contacts GROUP BY 1 ORDER BY 1",
    )
    assert phones == [(False, 0, 25), (True, 6, 6)], "old rows keep their phone; rows written since have NULL"


def test_widened_columns_are_widened_in_place_and_a_narrowing_rebuilds_the_table_with_the_reason(
    databases: Any,
) -> None:
    synced_once(databases)
    with crm(databases) as conn:
        conn.execute("ALTER TABLE leads ALTER COLUMN value TYPE numeric(18, 2)")
        conn.execute("UPDATE leads SET value = 1234567890123.45 WHERE id = (SELECT id FROM leads ORDER BY id LIMIT 1)")
        conn.execute("ALTER TABLE notes ALTER COLUMN body TYPE varchar(500)")  # BI's text already holds it

    leads = run_sync(databases.crm_url, databases.bi_url, tables=["leads", "notes"]).tables["leads"]

    assert (leads.mode, leads.updated) == ("incremental", 1)
    assert leads.schema_changes == ["crm_raw.leads.value widened in place: numeric(14,2) -> numeric(18,2)"]
    assert mirror_type(databases, "leads", "value") == "numeric(18,2)"
    assert mirror_type(databases, "notes", "body") == "text"
    assert mirrored(databases, "SELECT max(value) FROM crm_raw.leads") == [(Decimal("1234567890123.45"),)]

    with crm(databases) as conn:
        conn.execute("ALTER TABLE deals ALTER COLUMN amount TYPE integer USING amount::integer")
    deals = run_sync(databases.crm_url, databases.bi_url, tables=["deals"]).tables["deals"]

    assert deals.mode == "full"
    assert deals.schema_changes == [
        "crm_raw.deals rebuilt (emptied, re-copied whole): amount is numeric(14,2) in BI but integer in the CRM, "
        "which is not a safe widening"
    ]
    assert mirror_type(databases, "deals", "amount") == "integer"
    source, mirror = mirror_fingerprints(databases.crm_url, databases.bi_url, "deals")
    assert source == mirror


def test_a_new_crm_table_that_is_not_synced_is_ignored(databases: Any) -> None:
    synced_once(databases)
    with crm(databases) as conn:
        conn.execute("CREATE TABLE campaigns_import (id bigint PRIMARY KEY, raw jsonb)")
        conn.execute("INSERT INTO campaigns_import VALUES (1, '{}')")
        insert_leads(conn, 2)

    report = run_sync(databases.crm_url, databases.bi_url)

    assert set(report.tables) == set(SYNCED_TABLES) and report.tables["leads"].inserted == 2
    assert mirrored(databases, "SELECT to_regclass('crm_raw.campaigns_import')") == [(None,)]


_TYPES = st.sampled_from(
    [
        "smallint",
        "integer",
        "bigint",
        "text",
        "character varying",
        "character varying(10)",
        "character varying(40)",
        "numeric",
        "numeric(8,2)",
        "numeric(14,2)",
        "numeric(14,4)",
        "uuid",
    ]
)
_SAMPLES = {
    "smallint": "-32768",
    "integer": "2147483647",
    "bigint": "-9223372036854775808",
    "text": "ünïcode text longer than ten",
    "character varying": "any length at all, really",
    "character varying(10)": "ten chars!",
    "character varying(40)": "forty characters fit in here, just so...",
    "numeric": "123456789012345678.123456",
    "numeric(8,2)": "-999999.99",
    "numeric(14,2)": "999999999999.99",
    "numeric(14,4)": "9999999999.9999",
    "uuid": "6f1c1c52-6a59-4a33-9a0f-0d1b8f4f5a11",
}


@settings(max_examples=60, deadline=None)
@given(old=_TYPES, new=_TYPES)
def test_a_safe_widening_keeps_every_extreme_value_unchanged(pg_server: Any, old: str, new: str) -> None:
    """What widens_safely allows, PostgreSQL converts without changing a value (its extreme ones included)."""
    if old == new or not widens_safely(old, new):
        return
    with psycopg.connect(pg_server.admin_url) as conn:
        row = conn.execute(f"SELECT %s::{old}::{new}::text = %s::{old}::text", [_SAMPLES[old], _SAMPLES[old]])
        assert row.fetchone() == (True,), f"{old} -> {new} changed {_SAMPLES[old]!r}"
