"""One way to connect: every connection names itself and carries its database's timeouts, from configuration."""

from __future__ import annotations

import ast
import asyncio
from contextlib import closing
from pathlib import Path

import pytest

from hyperdash_pipeline.connections import DatabaseConnectionError, connect
from hyperdash_pipeline.settings import PROJECT_ROOT
from hyperdash_pipeline.transforms import scalar
from hyperdash_pipeline.webhook.store import WEBHOOK_APPLICATION, make_pool

PACKAGE = PROJECT_ROOT / "hyperdash_pipeline"
FACTORY = PACKAGE / "connections.py"
# The webhook's pool opens its connections itself, with the factory's pool_kwargs and session_limits_sql.
POOL_OWNER = PACKAGE / "webhook" / "store.py"


def opened_outside_the_factory(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute | ast.Name):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        owner = (
            node.func.value.id if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) else ""
        )
        if (owner, name) in {("psycopg", "connect"), ("psycopg2", "connect")} or name.endswith("ConnectionPool"):
            found.append(f"{name} line {node.lineno}")
    return found


def test_the_package_opens_connections_only_through_the_factory() -> None:
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): calls
        for path in PACKAGE.rglob("*.py")
        if path not in {FACTORY, POOL_OWNER}
        if (calls := opened_outside_the_factory(path))
    }
    assert offenders == {}, "open them with hyperdash_pipeline.connections.connect"
    assert [c.split()[0] for c in opened_outside_the_factory(POOL_OWNER)] == ["AsyncConnectionPool"]


def session(conn) -> tuple[str, str, str]:
    return (
        scalar(conn, "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"),
        scalar(conn, "SHOW statement_timeout"),
        scalar(conn, "SHOW lock_timeout"),
    )


def test_each_database_gets_its_defaults(databases) -> None:
    with closing(connect(databases.crm_url, "crm", "hd-test/crm")) as crm:
        assert session(crm) == ("hd-test/crm", "30min", "5s")
    with closing(connect(databases.bi_url, "bi", "hd-test/bi")) as bi:
        assert session(bi) == ("hd-test/bi", "30min", "30s")
    with closing(connect(databases.bi_url, "admin", "hd-test/admin")) as admin:
        assert session(admin)[1:] == ("0", "0")  # the server's own: a migration may rightly wait


def test_configuration_sets_the_timeouts_and_a_call_may_narrow_them(databases, monkeypatch) -> None:
    monkeypatch.setenv("HYPERDASH_CRM_STATEMENT_TIMEOUT_MS", "4321")
    monkeypatch.setenv("HYPERDASH_CRM_LOCK_TIMEOUT_MS", "1500")
    with closing(connect(databases.crm_url, "crm", "hd-test/crm")) as crm:
        assert session(crm)[1:] == ("4321ms", "1500ms")
    with closing(connect(databases.crm_url, "crm", "hd-test/crm", statement_timeout_ms=10_000)) as crm:
        assert session(crm)[1:] == ("10s", "1500ms")


@pytest.mark.parametrize("value", ["ten", "-5"])
def test_a_bad_setting_is_named(databases, monkeypatch, value: str) -> None:
    monkeypatch.setenv("HYPERDASH_BI_LOCK_TIMEOUT_MS", value)
    with pytest.raises(DatabaseConnectionError, match="HYPERDASH_BI_LOCK_TIMEOUT_MS"):
        connect(databases.bi_url, "bi", "hd-test/bi")


def test_a_failed_connection_names_the_setting_and_hides_the_password() -> None:
    url = "postgresql://analyst:s3cr3t@127.0.0.1:1/crm?connect_timeout=2"
    with pytest.raises(DatabaseConnectionError) as caught:
        connect(url, "crm", "hd-test/crm")
    assert "CRM_DATABASE_URL" in str(caught.value) and "s3cr3t" not in str(caught.value)


def test_the_webhooks_direct_connections_carry_its_name_and_timeouts(databases) -> None:
    async def read() -> tuple[str, str, str]:
        pool = make_pool(databases.crm_url, 1)
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                rows = [
                    await (await conn.execute(query)).fetchone()
                    for query in (
                        "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()",
                        "SHOW statement_timeout",
                        "SHOW lock_timeout",
                    )
                ]
        finally:
            await pool.close()
        return tuple(row[0] for row in rows if row)

    assert asyncio.run(read()) == (WEBHOOK_APPLICATION, "10s", "5s")
