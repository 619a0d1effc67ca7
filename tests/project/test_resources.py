"""The PostgreSQL resource: who it says it is, the limits it sets, and the secrets it keeps."""

from __future__ import annotations

import pytest

from hyperdash_pipeline.connections import DatabaseConnectionError
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import psycopg2_url, redact
from hyperdash_pipeline.transforms import scalar


def test_connection_carries_application_name_and_timeouts(databases):
    resource = PostgresResource(url=databases.crm_url, application_name="hd-test-app", statement_timeout_ms=1234)
    with resource.connection() as conn:
        name = scalar(conn, "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        timeout = scalar(conn, "SHOW statement_timeout")
    assert name == "hd-test-app"
    assert timeout == "1234ms"


def test_statement_timeout_stops_a_long_query(databases):
    resource = PostgresResource(url=databases.bi_url, statement_timeout_ms=100)
    with pytest.raises(Exception, match="statement timeout"), resource.connection() as conn:
        conn.execute("SELECT pg_sleep(2)")


def test_unreachable_database_error_hides_the_password():
    secret = "s3cr3t-Pa55"
    resource = PostgresResource(url=f"postgresql://analyst:{secret}@127.0.0.1:1/bi?connect_timeout=2")
    with pytest.raises(DatabaseConnectionError) as caught:
        resource.connect()
    message = str(caught.value)
    assert secret not in message
    assert "analyst:***@127.0.0.1:1/bi" in message
    assert secret not in resource.safe_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql+psycopg2://u:p%40ss@h:5432/db?x=1", "postgresql+psycopg2://u:***@h:5432/db?x=1"),
        ("host=h password=hunter2 dbname=x", "host=h password=*** dbname=x"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_psycopg2_url_names_the_driver():
    assert psycopg2_url("postgresql://u@/dagster?host=/tmp/s") == "postgresql+psycopg2://u@/dagster?host=/tmp/s"
    assert psycopg2_url("postgres://u@h/d") == "postgresql+psycopg2://u@h/d"
