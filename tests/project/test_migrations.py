"""Schemas as migrations: contract tables exist, re-runs are no-ops, edited history is refused."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import psycopg
import pytest

from hyperdash_pipeline import migrate
from hyperdash_pipeline.migrate import MigrationError, adopt_existing_crm, apply_migrations
from hyperdash_pipeline.settings import PROJECT_ROOT, SQL_DIR
from hyperdash_pipeline.transforms import scalar

CRM_CONTRACT = {
    "leads": {
        "id",
        "organization_id",
        "contact_id",
        "name",
        "email",
        "phone",
        "status",
        "value",
        "campaign_id",
        "ad_id",
        "ad_set_id",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "gclid",
        "fbclid",
        "touchpoints",
        "attribution_synced",
        "created_at",
        "updated_at",
        "deleted_at",
    },
    "deals": {
        "id",
        "organization_id",
        "lead_id",
        "contact_id",
        "title",
        "stage",
        "amount",
        "currency",
        "closed_at",
        "created_at",
        "updated_at",
        "deleted_at",
    },
    "contacts": {"id", "organization_id", "created_at", "updated_at"},
    "tasks": {"id", "organization_id", "lead_id", "deal_id", "created_at", "updated_at"},
    "notes": {"id", "organization_id", "lead_id", "deal_id", "created_at", "updated_at"},
    "activities": {"id", "organization_id", "lead_id", "deal_id", "created_at", "updated_at"},
}

SEED_LEAD_ATTRIBUTION = [
    "id",
    "organization_id",
    "lead_id",
    "campaign_id",
    "ad_id",
    "ad_set_id",
    "source",
    "medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "cpa_at_conversion",
    "roas",
    "touchpoints",
    "first_touch",
    "last_touch",
    "conversion_date",
    "created_at",
]

CAMPAIGN_METRICS = {
    "organization_id",
    "source",
    "campaign_id",
    "ad_set_id",
    "ad_id",
    "date",
    "campaign_name",
    "ad_name",
    "currency",
    "spend",
    "impressions",
    "clicks",
    "conversions",
    "conversion_value",
    "video_3s_views",
    "thruplays",
    "cpa",
    "roas",
}


def columns(url: str, schema: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()
    return [r[0] for r in rows]


def test_crm_contract_tables_and_columns_exist(databases):
    for table, expected in CRM_CONTRACT.items():
        missing = expected - set(columns(databases.crm_url, "public", table))
        assert not missing, f"crm {table} lacks {missing}"


def test_bi_has_the_seeds_seven_tables_and_schemas(databases):
    for table in (
        "organizations",
        "users",
        "integrations",
        "campaign_metrics",
        "ai_creative_insights",
        "sessions",
        "lead_attribution",
    ):
        assert columns(databases.bi_url, "public", table), f"bi table {table} missing"
    assert columns(databases.bi_url, "public", "lead_attribution") == SEED_LEAD_ATTRIBUTION
    assert set(columns(databases.bi_url, "public", "campaign_metrics")) >= CAMPAIGN_METRICS
    with psycopg.connect(databases.bi_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert {"crm_raw", "analytics"} <= schemas
    for table in CRM_CONTRACT:
        assert set(columns(databases.crm_url, "public", table)) | {"_synced_at"} == set(
            columns(databases.bi_url, "crm_raw", table)
        ), f"crm_raw.{table} does not mirror the CRM table"


def test_updated_at_trigger_bumps_on_update(databases):
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO leads (id, organization_id, created_at, updated_at)"
            " VALUES (gen_random_uuid(), gen_random_uuid(), now() - interval '1 day', now() - interval '1 day')"
        )
        conn.execute("UPDATE leads SET status = 'contacted'")
        age = scalar(conn, "SELECT now() - updated_at FROM leads")
    assert age.total_seconds() < 60


def test_second_migrate_is_a_noop(empty_database):
    first = apply_migrations(empty_database, SQL_DIR / "crm", "CRM")
    second = apply_migrations(empty_database, SQL_DIR / "crm", "CRM")
    assert first.applied and not second.applied
    assert second.already_applied == len(first.applied)


def test_edited_applied_migration_is_refused(empty_database, tmp_path: Path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("CREATE TABLE a (id int);")
    apply_migrations(empty_database, folder, "BI")
    (folder / "0001_a.sql").write_text("CREATE TABLE a (id bigint);")
    (folder / "0002_b.sql").write_text("CREATE TABLE b (id int);")
    with pytest.raises(MigrationError, match=r"0001_a\.sql was edited after it was applied.*new migration"):
        apply_migrations(empty_database, folder, "BI")
    assert "b" not in {r for r in _tables(empty_database)}, "nothing may be applied after a refusal"


def test_a_reviewed_edit_is_accepted_once_and_no_other(empty_database, tmp_path: Path, monkeypatch):
    folder = tmp_path / "migrations"
    folder.mkdir()
    first = folder / "0001_a.sql"
    first.write_text("-- cites an old document\nCREATE TABLE a (id int);")
    apply_migrations(empty_database, folder, "BI")
    earlier = hashlib.sha256(first.read_bytes()).hexdigest()
    monkeypatch.setitem(migrate.REVIEWED_EDITS, "0001_a", frozenset({earlier}))
    first.write_text("-- cites docs/contracts.md\nCREATE TABLE a (id int);")
    (folder / "0002_b.sql").write_text("CREATE TABLE b (id int);")
    apply_migrations(empty_database, folder, "BI")
    assert {"a", "b"} <= _tables(empty_database)
    assert _recorded(empty_database)["0001_a"] == hashlib.sha256(first.read_bytes()).hexdigest()
    first.write_text("-- cites docs/contracts.md\nCREATE TABLE a (id bigint);")
    with pytest.raises(MigrationError, match=r"0001_a\.sql was edited after it was applied"):
        apply_migrations(empty_database, folder, "BI")


def test_databases_migrated_before_the_reviewed_edits_keep_migrating(databases):
    """A CRM and a BI that recorded the shipped migrations as they were before their comments were edited."""
    for url, folder, database in ((databases.crm_url, "crm", "CRM"), (databases.bi_url, "bi", "BI")):
        shipped = {path.stem for path in (SQL_DIR / folder).glob("*.sql")}
        earlier = {name: min(digests) for name, digests in migrate.REVIEWED_EDITS.items() if name in shipped}
        assert earlier, f"no reviewed edit among {folder}'s migrations"
        with psycopg.connect(url, autocommit=True) as conn:
            for name, digest in earlier.items():
                conn.execute(f"UPDATE {migrate.CHECKSUM_TABLE} SET sha256 = %s WHERE migration_id = %s", (digest, name))
        apply_migrations(url, SQL_DIR / folder, database)
        recorded = _recorded(url)
        for name in earlier:
            assert recorded[name] == hashlib.sha256((SQL_DIR / folder / f"{name}.sql").read_bytes()).hexdigest()
    with psycopg.connect(databases.bi_url) as conn:
        comment = scalar(conn, "SELECT obj_description('analytics.attribution_credits'::regclass)")
    assert "docs/contracts.md#attribution-contract" in comment


def test_no_file_cites_a_document_outside_the_repository():
    cited = [
        str(path.relative_to(PROJECT_ROOT))
        for folder in ("sql", "docs", "hyperdash_pipeline", "tests", "benchmarks")
        for path in (PROJECT_ROOT / folder).rglob("*")
        if path.suffix in {".sql", ".md", ".py"} and "MISSION" + ".md" in path.read_text()
    ]
    assert cited == []


def _recorded(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(f"SELECT migration_id, sha256 FROM {migrate.CHECKSUM_TABLE}").fetchall())


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_existing_crm_migration_keeps_rows(empty_database):
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE leads (id uuid PRIMARY KEY, organization_id uuid, name text, email text,"
            " created_at timestamptz DEFAULT now())"
        )
        conn.execute(
            "CREATE TABLE contacts (id uuid PRIMARY KEY, organization_id uuid, email text, created_at timestamptz)"
        )
        conn.execute("CREATE TABLE deals (id uuid PRIMARY KEY, organization_id uuid, lead_id uuid)")
        for table in ("tasks", "notes", "activities"):  # the rest of an existing CRM
            conn.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY, organization_id uuid)")
        conn.execute(
            "INSERT INTO leads SELECT gen_random_uuid(), gen_random_uuid(), 'lead ' || i, i || '@example.com'"
            " FROM generate_series(1, 500) i"
        )
        before = conn.execute("SELECT md5(string_agg(id::text || name || email, ',' ORDER BY id)) FROM leads")
        checksum = before.fetchone()
    assert adopt_existing_crm(empty_database, requested=True)
    apply_migrations(empty_database, SQL_DIR / "crm", "CRM")
    with psycopg.connect(empty_database) as conn:
        after = conn.execute("SELECT md5(string_agg(id::text || name || email, ',' ORDER BY id)) FROM leads")
        assert after.fetchone() == checksum
        unsynced = conn.execute("SELECT count(*) FROM leads WHERE NOT attribution_synced").fetchone()
        assert unsynced == (500,)
        conn.execute("UPDATE leads SET utm_source = 'fb' WHERE name = 'lead 1'")
        (fresh,) = conn.execute("SELECT updated_at > now() - interval '1 minute' FROM leads WHERE name = 'lead 1'")
        conn.execute("DELETE FROM leads WHERE name = 'lead 2'")
        tombstones = conn.execute("SELECT count(*) FROM sync_tombstones WHERE table_name = 'leads'").fetchone()
        assert tombstones == (1,), "the sync must see hard deletes in an existing CRM too"
        assert fresh == (True,)
    assert {"campaign_id", "ad_id", "utm_source", "utm_campaign", "attribution_synced", "updated_at"} <= set(
        columns(empty_database, "public", "leads")
    )


def _migrate_bi_before(database: str, tmp_path: Path, migration: str) -> None:
    """Apply BI's migrations numbered below `migration` only: the schema as it was before that one."""
    folder = tmp_path / "bi"
    folder.mkdir()
    for path in sorted((SQL_DIR / "bi").glob("*.sql")):
        if path.stem < migration:
            shutil.copy(path, folder)
    apply_migrations(database, folder, "BI")


def test_wide_credits_migration_keeps_the_credits(empty_database, tmp_path: Path):
    """0205 moves analytics.attribution_credits into per-touch storage: the contract relation reads the same."""
    _migrate_bi_before(empty_database, tmp_path, "0205")  # the schema as it was before the wide credits
    # The columns 0205 knew (1101 appends channel_raw, NULL for credits stored before it).
    contract = (
        "SELECT organization_id, lead_id, touch_index, channel, campaign_id, ad_id, model, credit, revenue_credit"
        " FROM analytics.attribution_credits ORDER BY lead_id, model, touch_index"
    )
    with psycopg.connect(empty_database) as conn:
        # Two configured models; lead a has two touches, lead b one (with revenue).
        conn.execute(
            "INSERT INTO analytics.attribution_credits (organization_id, lead_id, touch_index, channel, campaign_id,"
            " ad_id, model, credit, revenue_credit) VALUES"
            " ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000000a', 0, 'meta', 'c1', 'a1',"
            "  'linear', 0.5, 0), ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000000a', 1,"
            "  'email', '(email)', NULL, 'linear', 0.5, 0), ('00000000-0000-0000-0000-000000000001',"
            "  '00000000-0000-0000-0000-00000000000a', 0, 'meta', 'c1', 'a1', 'time_decay', 0.25, 0),"
            " ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000000a', 1, 'email', '(email)',"
            "  NULL, 'time_decay', 0.75, 0), ('00000000-0000-0000-0000-000000000001',"
            "  '00000000-0000-0000-0000-00000000000b', 0, 'google', 'g1', NULL, 'linear', 1, 123.456789),"
            " ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000000b', 0, 'google', 'g1',"
            "  NULL, 'time_decay', 1, 123.456789)"
        )
        before = conn.execute(contract).fetchall()
    apply_migrations(empty_database, SQL_DIR / "bi", "BI")
    with psycopg.connect(empty_database) as conn:
        assert conn.execute(contract).fetchall() == before
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'analytics.attribution_credits'::regclass")
        assert kind.fetchone() == ("v",)
        stored = conn.execute("SELECT count(*) FROM analytics.attribution_touch_credits").fetchone()
        assert stored == (3,)


def test_partitioning_migration_keeps_the_credits_and_paths(empty_database, tmp_path: Path):
    """1807 moves the credits storage and the paths into tables partitioned by lead id: every row is still
    there, in one UNLOGGED partition, the contract view reads the same and the campaign totals' triggers fire."""
    _migrate_bi_before(empty_database, tmp_path, "1807")
    org, lead_a, lead_b = (f"00000000-0000-0000-0000-00000000000{c}" for c in "1ab")
    contract = "SELECT * FROM analytics.attribution_credits ORDER BY lead_id, model, touch_index"
    with psycopg.connect(empty_database) as conn:
        conn.execute(
            "INSERT INTO analytics.attribution_touch_credits (organization_id, lead_id, touch_index, channel,"
            " campaign_id, linear, linear_revenue, channel_raw, touches) VALUES"
            " (%(org)s, %(a)s, 0, 'paid_social', 'c1', 0.5, 0, 'meta', 1),"
            " (%(org)s, %(a)s, 1, 'email', '(email)', 0.5, 0, 'newsletter', 2),"
            " (%(org)s, %(b)s, 0, 'paid_search', 'g1', 1, 123.456789, 'google', 1)",
            {"org": org, "a": lead_a, "b": lead_b},
        )
        conn.execute(
            "INSERT INTO analytics.attribution_paths VALUES (%s, %s, false, '{paid_social,email}', '{c1,(email)}'),"
            " (%s, %s, true, '{paid_search}', '{g1}')",
            (lead_a, org, lead_b, org),
        )
        before = conn.execute(contract).fetchall()
        paths = conn.execute("SELECT * FROM analytics.attribution_paths ORDER BY lead_id").fetchall()
        totals = conn.execute("SELECT * FROM analytics.campaign_credit_totals ORDER BY campaign_id").fetchall()
    apply_migrations(empty_database, SQL_DIR / "bi", "BI")
    with psycopg.connect(empty_database) as conn:
        assert conn.execute(contract).fetchall() == before
        assert conn.execute("SELECT * FROM analytics.attribution_paths ORDER BY lead_id").fetchall() == paths
        for table in ("attribution_touch_credits", "attribution_paths"):
            kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (f"analytics.{table}",))
            assert kind.fetchone() == ("p",)
            partitions = conn.execute(
                "SELECT c.oid::regclass::text, c.relpersistence FROM pg_inherits i JOIN pg_class c"
                " ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
                (f"analytics.{table}",),
            ).fetchall()
            assert partitions == [(f"{table}_0", "u")]
        assert conn.execute("SELECT * FROM analytics.campaign_credit_totals ORDER BY campaign_id").fetchall() == totals
        conn.execute("DELETE FROM analytics.attribution_touch_credits WHERE lead_id = %s", (lead_b,))
        left = conn.execute("SELECT campaign_id, touches FROM analytics.campaign_credit_totals ORDER BY 1").fetchall()
    assert left == [("(email)", 1), ("c1", 1)]


def test_partitioning_migration_keeps_lead_attribution_its_keys_and_grants(empty_database, tmp_path: Path):
    """1808 moves lead_attribution into a table partitioned by lead id: every row is still there with its id
    (a random one from before the id was the lead's included), in one LOGGED partition; the grants stay; lead_id
    is still unique, so an upsert on it replaces the row; the organization must still exist."""
    _migrate_bi_before(empty_database, tmp_path, "1808")
    org, lead_a, lead_b = (f"00000000-0000-0000-0000-00000000000{c}" for c in "1ab")
    rows = "SELECT * FROM lead_attribution ORDER BY lead_id"
    with psycopg.connect(empty_database) as conn:
        conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, 'Org', 'org')", (org,))
        conn.execute(
            "INSERT INTO lead_attribution (id, organization_id, lead_id, campaign_id, conversion_date) VALUES"
            " (gen_random_uuid(), %(org)s, %(a)s, 'c1', '2026-01-01'), (%(b)s, %(org)s, %(b)s, 'c2', '2026-01-02')",
            {"org": org, "a": lead_a, "b": lead_b},
        )
        conn.execute("GRANT SELECT ON lead_attribution TO PUBLIC")
        before = conn.execute(rows).fetchall()
    apply_migrations(empty_database, SQL_DIR / "bi", "BI")
    with psycopg.connect(empty_database) as conn:
        assert conn.execute(rows).fetchall() == before
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'public.lead_attribution'::regclass")
        assert kind.fetchone() == ("p",)
        partitions = conn.execute(
            "SELECT c.oid::regclass::text, c.relpersistence FROM pg_inherits i JOIN pg_class c"
            " ON c.oid = i.inhrelid WHERE i.inhparent = 'public.lead_attribution'::regclass"
        ).fetchall()
        assert partitions == [("lead_attribution_0", "p")]
        granted = conn.execute("SELECT has_table_privilege('public', 'public.lead_attribution', 'SELECT')")
        assert granted.fetchone() == (True,)
        conn.execute(
            "INSERT INTO lead_attribution (id, organization_id, lead_id, campaign_id, conversion_date)"
            " VALUES (%(b)s, %(org)s, %(b)s, 'c3', '2026-01-03')"
            " ON CONFLICT (lead_id) DO UPDATE SET campaign_id = excluded.campaign_id",
            {"org": org, "b": lead_b},
        )
        campaigns = conn.execute("SELECT campaign_id FROM lead_attribution ORDER BY lead_id").fetchall()
        assert campaigns == [("c1",), ("c3",)]
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO lead_attribution (organization_id, lead_id, campaign_id, conversion_date)"
                " VALUES ('00000000-0000-0000-0000-0000000000ff', gen_random_uuid(), 'c4', '2026-01-04')"
            )
