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
BENCHMARKS = PROJECT_ROOT / "benchmarks"
FACTORY = PACKAGE / "connections.py"
# The webhook's pool opens its connections itself, with the factory's pool_kwargs and session_limits_sql.
POOL_OWNER = PACKAGE / "webhook" / "store.py"
# A benchmark's baseline that is itself the bare tool being compared against keeps its own connection:
# the call's line says so.
BASELINE_MARKER = "# baseline:"
OPENERS = {"psycopg.connect", "psycopg.Connection.connect", "psycopg.AsyncConnection.connect", "psycopg2.connect"}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (owner := _dotted(node.value)) is not None:
        return f"{owner}.{node.attr}"
    return None


def direct_connects(source: str) -> list[str]:
    """Where `source` opens a PostgreSQL connection itself: psycopg.connect, psycopg.Connection.connect,
    psycopg.AsyncConnection.connect (under any alias), psycopg2.connect, or an import of psycopg's `connect`;
    a line carrying BASELINE_MARKER is allowed."""
    tree = ast.parse(source)
    lines = source.splitlines()
    bound = {"psycopg": "psycopg", "psycopg2": "psycopg2"}  # local name -> what it is
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {"psycopg", "psycopg2"}:
            package = (node.module or "").split(".")[0]
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{package}.{alias.name}"
                if alias.name == "connect":
                    found.append((node.lineno, node.end_lineno or node.lineno, f"from {node.module} import connect"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (name := _dotted(node.func)) is not None:
            head, _, rest = name.partition(".")
            resolved = bound.get(head, head) + (f".{rest}" if rest else "")
            if resolved in OPENERS:
                found.append((node.lineno, node.end_lineno or node.lineno, resolved))
    return [
        f"{what} line {first}"
        for first, last, what in sorted(found)
        if not any(BASELINE_MARKER in line for line in lines[first - 1 : last])
    ]


def test_the_detector_sees_every_way_of_opening_a_connection() -> None:
    source = """
import psycopg
import psycopg as pg
from psycopg import AsyncConnection, Connection as C, connect
from psycopg import connect as c2  # baseline: bare psycopg is the thing compared against
psycopg.connect("a")
pg.connect("a")
C.connect("a")
psycopg.Connection.connect("a")
AsyncConnection.connect("a")
connect("a")
psycopg.connect("a")  # baseline: the raw pipe
psycopg.connect(
    "a",  # baseline: a marker on any line of the call
)
psycopg.sql.SQL("a")
sqlite3.connect("a")
"""
    assert direct_connects(source) == [
        "from psycopg import connect line 4",
        "psycopg.connect line 6",
        "psycopg.connect line 7",
        "psycopg.Connection.connect line 8",
        "psycopg.Connection.connect line 9",
        "psycopg.AsyncConnection.connect line 10",
        "psycopg.connect line 11",
    ]


def test_connections_are_opened_only_through_the_factory() -> None:
    """The package, the benchmarks and tasks.py: hyperdash_pipeline.connections.connect, nothing else."""
    scanned = [*PACKAGE.rglob("*.py"), *BENCHMARKS.rglob("*.py"), PROJECT_ROOT / "tasks.py"]
    assert FACTORY in scanned and any(path.parent == BENCHMARKS for path in scanned)
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): calls
        for path in sorted(scanned)
        if path != FACTORY
        if (calls := direct_connects(path.read_text()))
    }
    assert offenders == {}, "open them with hyperdash_pipeline.connections.connect (or mark a bare baseline)"


def pools(path: Path) -> list[str]:
    return [
        f"{name} line {node.lineno}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and (name := (_dotted(node.func) or "").rpartition(".")[2]).endswith("ConnectionPool")
    ]


def test_the_package_opens_pools_only_in_the_webhook_store() -> None:
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): found
        for path in PACKAGE.rglob("*.py")
        if path not in {FACTORY, POOL_OWNER}
        if (found := pools(path))
    }
    assert offenders == {}, "the webhook's pool is the only one (webhook/store.py)"
    assert [c.split()[0] for c in pools(POOL_OWNER)] == ["AsyncConnectionPool"]


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
