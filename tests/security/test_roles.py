"""Least-privilege roles as code: `hyperdash roles apply` on real databases, then every component under its role.

The sync, the analytics refresh and the webhook run as their roles and work; each role is refused
outside its grants; a CRM session that is not the sync cannot skip the leads trigger any more; and
`hyperdash migrate` runs as the migrator on databases it owns, with no superuser anywhere.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from starlette.testclient import TestClient

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.correlation.refresh import refresh_correlation
from hyperdash_pipeline.insights.decide import DecisionRule
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.security.roles import RECEIPT_ROLE, RoleNames, bi_statements, crm_statements
from hyperdash_pipeline.settings import libpq_url
from hyperdash_pipeline.sync.engine import run_sync
from hyperdash_pipeline.webhook.app import create_app
from hyperdash_pipeline.webhook.config import WebhookConfig
from hyperdash_pipeline.webhook.signing import signed_headers
from tests.support.sync_data import populate
from tests.support.webhook import JSON, create_source, lead


def as_role(url: str, role: str) -> str:
    """`url` logging in as `role` (the test servers trust local connections; production sets passwords)."""
    parts = urlsplit(libpq_url(url))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


def _drop_roles(admin_urls: list[str], roles: list[str]) -> None:
    for url in admin_urls:
        with psycopg.connect(url, autocommit=True) as conn:
            for role in roles:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
    with psycopg.connect(admin_urls[0], autocommit=True) as conn:
        for role in roles:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def roles(databases: Any) -> Iterator[RoleNames]:
    """This session's roles (role names are server-wide: a per-test prefix keeps parallel sessions apart)."""
    names = RoleNames.with_prefix(f"hd{uuid.uuid4().hex[:8]}_")
    assert main(["roles", "apply", "--prefix", names.migrator.removesuffix("migrator")]) == 0
    yield names
    _drop_roles([databases.crm_url, databases.bi_url], [*list(vars(names).values()), names.migrator + "_app"])


def refused(url: str, statement: str) -> bool:
    """True when `statement` fails for lack of a privilege (anything else is a test bug and raises)."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def test_sync_analytics_and_webhook_run_under_their_roles(
    databases: Any, roles: RoleNames, capsys: pytest.CaptureFixture[str]
) -> None:
    org = create_source(capsys, "acme")
    populate(databases.crm_url, 40)
    crm_sync = as_role(databases.crm_url, roles.sync)
    bi_writer = as_role(databases.bi_url, roles.bi_writer)
    crm_webhook = as_role(databases.crm_url, roles.webhook)
    analyst = as_role(databases.bi_url, roles.analyst)

    with TestClient(create_app(WebhookConfig(crm_url=crm_webhook))) as client:
        raw = json.dumps(lead(org)).encode()
        posted = client.post("/webhooks/leads", content=raw, headers=signed_headers(org.secret, raw, content_type=JSON))
    assert posted.status_code == 201, posted.text
    report = run_sync(crm_sync, bi_writer)
    assert report is not None
    with psycopg.connect(databases.crm_url) as conn:
        unsynced = conn.execute("SELECT count(*) FROM leads WHERE NOT attribution_synced").fetchone()
    assert unsynced == (0,)  # the receipt ran under the sync's role
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BI_DATABASE_URL", bi_writer)
        assert main(["attribute"]) == 0
    with psycopg.connect(bi_writer) as conn:
        refresh_correlation(conn, DecisionRule())
    with psycopg.connect(analyst) as conn:
        mirrored = conn.execute("SELECT count(*) FROM crm_raw.leads").fetchone()
        attributed = conn.execute("SELECT count(*) FROM public.lead_attribution").fetchone()
        conn.execute("SELECT count(*) FROM analytics.campaign_lead_quality")
        credited = conn.execute("SELECT count(DISTINCT lead_id) FROM analytics.attribution_credits").fetchone()
    assert mirrored == (41,) and attributed == (41,) and credited == (41,)

    # Each role, outside its grants, is refused.
    assert refused(crm_sync, "UPDATE leads SET name = 'x'")  # only the receipt column
    assert refused(crm_sync, "INSERT INTO contacts (organization_id, name) VALUES (gen_random_uuid(), 'x')")
    assert refused(crm_sync, "SELECT * FROM webhook_sources")
    assert refused(crm_webhook, "SELECT email, phone FROM leads")  # it reads back ids only
    assert refused(crm_webhook, "DELETE FROM leads")
    assert refused(crm_webhook, "UPDATE webhook_sources SET active = true")
    assert refused(as_role(databases.crm_url, roles.bi_writer), "SELECT id FROM leads")  # BI's owner, not the CRM's
    assert refused(analyst, "DELETE FROM analytics.campaign_lead_quality")
    assert refused(analyst, "SELECT * FROM public.sync_state")
    assert refused(analyst, "SELECT * FROM public.attribution_touch_credits_0")  # through the view only
    assert refused(analyst, "SELECT * FROM public.lead_attribution_0")  # through lead_attribution only
    assert not refused(analyst, "SELECT count(*) FROM public.lead_attribution")
    assert not refused(crm_webhook, "SELECT organization_id FROM webhook_sources LIMIT 1")


def test_a_crm_session_that_is_not_the_sync_cannot_skip_the_leads_trigger(databases: Any, roles: RoleNames) -> None:
    app_role = roles.migrator + "_app"  # the CRM application's own role: may edit leads
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(app_role)))
        conn.execute(sql.SQL("GRANT SELECT, UPDATE ON leads TO {}").format(sql.Identifier(app_role)))
    populate(databases.crm_url, 3)
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        conn.execute("UPDATE leads SET attribution_synced = true")
        before = conn.execute("SELECT id, updated_at FROM leads ORDER BY id LIMIT 1").fetchone()
    assert before is not None
    with psycopg.connect(as_role(databases.crm_url, app_role)) as conn:
        conn.execute("SET hyperdash.receipt = 'on'")  # the old bypass
        conn.execute("UPDATE leads SET name = 'edited' WHERE id = %s", (before[0],))
    with psycopg.connect(databases.crm_url) as conn:
        after = conn.execute("SELECT updated_at, attribution_synced FROM leads WHERE id = %s", (before[0],)).fetchone()
    assert after is not None
    assert after[0] > before[1] and after[1] is False  # the edit is a new version: the sync will carry it


def test_migrate_runs_as_the_migrator_without_a_superuser(pg_server: Any) -> None:
    names = RoleNames.with_prefix(f"hd{uuid.uuid4().hex[:8]}_")
    databases = [f"hd_mig_{uuid.uuid4().hex[:8]}_{kind}" for kind in ("crm", "bi")]
    # A DBA's one-off: the two owners, and hyperdash_receipt (crm/0901 creates it only with CREATEROLE).
    for statement in (crm_statements(names, "postgres")[0], crm_statements(names, "postgres")[3]):
        pg_server.execute(statement)
    pg_server.execute(bi_statements(names, "postgres")[0])
    owners = (names.migrator, names.bi_writer)
    try:
        for database, owner in zip(databases, owners, strict=True):
            pg_server.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(owner))
            )
        crm, bi = (as_role(pg_server.url(d), owner) for d, owner in zip(databases, owners, strict=True))
        with psycopg.connect(crm) as conn:
            superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert superuser == (False,)
        reports = migrate_all(crm, bi)
        assert all(report.applied for report in reports)
        with psycopg.connect(crm) as conn:
            assert conn.execute("SELECT to_regclass('leads') IS NOT NULL").fetchone() == (True,)
            assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (RECEIPT_ROLE,)).fetchone() == (1,)
    finally:
        for database in databases:
            pg_server.drop_database(database)
        for owner in owners:
            pg_server.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(owner)))
